/**
 * The uploaded lead files in the NATS Object Store (the claim check of the pipeline): the file is
 * streamed in and out in chunks, never held whole in memory, and expires after a TTL as a
 * backstop once extraction is long done.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { nanos } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Objm, setSha256Backend, StorageType, type ObjectStore } from '@nats-io/obj';
import { FileNotFoundError, type LeadFileStore } from '../../ports/lead-file-store.port.ts';

export const DEFAULT_LEAD_FILE_BUCKET = 'aga-lead-files';
const DEFAULT_TTL_MS = 7 * 24 * 60 * 60 * 1_000;

export interface NatsObjectLeadFileStoreOptions {
  /** Default `aga-lead-files`. */
  readonly bucket?: string;
  /** How long a file is kept at most. Default 7 days; applies when the bucket is created. */
  readonly ttlMs?: number;
  readonly replicas?: number;
}

export class NatsObjectLeadFileStore implements LeadFileStore {
  readonly #store: ObjectStore;
  readonly #jsm: JetStreamManager;
  readonly #bucket: string;

  private constructor(store: ObjectStore, jsm: JetStreamManager, bucket: string) {
    this.#store = store;
    this.#jsm = jsm;
    this.#bucket = bucket;
  }

  /** Opens the bucket, creating it on first use. */
  static async open(nc: NatsConnection, options: NatsObjectLeadFileStoreOptions = {}): Promise<NatsObjectLeadFileStore> {
    // Object digests with node:crypto rather than the package's pure-JS default (several times
    // slower on megabytes: each upload is hashed when stored and again when read back).
    setSha256Backend('native');
    const bucket = options.bucket ?? DEFAULT_LEAD_FILE_BUCKET;
    const store = await new Objm(nc).create(bucket, {
      storage: StorageType.File,
      ttl: nanos(options.ttlMs ?? DEFAULT_TTL_MS),
      replicas: options.replicas ?? 1,
    });
    return new NatsObjectLeadFileStore(store, await jetstreamManager(nc), bucket);
  }

  async put(key: string, file: AsyncIterable<Uint8Array>, meta: { readonly fileName: string }): Promise<void> {
    // The file name is the user's: kept as the object's description, not in its key.
    await this.#store.put({ name: key, description: meta.fileName }, ReadableStream.from(file));
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array>> {
    const result = await this.#store.get(key);
    if (result === null) throw new FileNotFoundError(key);
    // The stream errors if the object is corrupt (its SHA-256 digest does not match).
    return result.data;
  }

  /**
   * Leaves nothing of the file: the object store's delete purges the chunks but keeps a "deleted"
   * record of the object (its name and description: the user's file name), so that record is
   * purged too. The record's subject is the object store's layout (ADR-20: `$O.<bucket>.M.` and
   * the name in padded base64url).
   */
  async delete(key: string): Promise<void> {
    await this.#store.delete(key);
    await this.#jsm.streams.purge(`OBJ_${this.#bucket}`, { filter: `$O.${this.#bucket}.M.${paddedBase64Url(key)}` });
  }
}

function paddedBase64Url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}
