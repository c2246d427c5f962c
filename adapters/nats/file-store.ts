/**
 * The uploaded lead files in the NATS Object Store (the claim check of the pipeline): the file is
 * streamed in and out in chunks, never held whole in memory, and expires after a TTL as a
 * backstop once extraction is long done.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { nanos } from '@nats-io/transport-node';
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

  private constructor(store: ObjectStore) {
    this.#store = store;
  }

  /** Opens the bucket, creating it on first use. */
  static async open(nc: NatsConnection, options: NatsObjectLeadFileStoreOptions = {}): Promise<NatsObjectLeadFileStore> {
    // Object digests with node:crypto rather than the package's pure-JS default (several times
    // slower on megabytes: each upload is hashed when stored and again when read back).
    setSha256Backend('native');
    const store = await new Objm(nc).create(options.bucket ?? DEFAULT_LEAD_FILE_BUCKET, {
      storage: StorageType.File,
      ttl: nanos(options.ttlMs ?? DEFAULT_TTL_MS),
      replicas: options.replicas ?? 1,
    });
    return new NatsObjectLeadFileStore(store);
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

  async delete(key: string): Promise<void> {
    await this.#store.delete(key);
  }
}
