/**
 * Test double (never used in production code): the lead file store (the claim check) as a Map.
 * `put` reads the whole upload and keeps it only when the upload ends without an error (the
 * object store purges a failed put's chunks); `get` streams the bytes back in chunks, or rejects
 * with `FileNotFoundError`. Failures can be injected per operation, and every call is recorded.
 */
import { FileNotFoundError, type LeadFileStore } from '../../../ports/lead-file-store.port.ts';

export class InMemoryLeadFileStore implements LeadFileStore {
  readonly #files = new Map<string, { bytes: Uint8Array; fileName: string }>();
  readonly #failures: { get?: Error | undefined; put?: Error | undefined; delete?: Error | undefined } = {};
  readonly #chunkSize: number;
  /** Keys deleted, in order (an unknown key included: deleting one is no error). */
  readonly deleted: string[] = [];

  /** `chunkSize`: how `get` splits the bytes (small chunks exercise a reader's boundaries). */
  constructor(options: { chunkSize?: number } = {}) {
    this.#chunkSize = options.chunkSize ?? 64 * 1024;
  }

  /** Stores bytes under `key`, as a submission would have. */
  seed(key: string, bytes: Uint8Array | string, fileName = 'leads.csv'): void {
    this.#files.set(key, { bytes: typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes, fileName });
  }

  keys(): string[] {
    return [...this.#files.keys()];
  }

  has(key: string): boolean {
    return this.#files.has(key);
  }

  text(key: string): string | undefined {
    const file = this.#files.get(key);
    return file === undefined ? undefined : new TextDecoder().decode(file.bytes);
  }

  /** Makes the next calls of `operation` reject with `error` (undefined: stop failing). */
  fail(operation: 'get' | 'put' | 'delete', error: Error | undefined): void {
    this.#failures[operation] = error;
  }

  async put(key: string, file: AsyncIterable<Uint8Array>, meta: { readonly fileName: string }): Promise<void> {
    this.#throwIfFailing('put');
    const chunks: Uint8Array[] = [];
    for await (const chunk of file) chunks.push(chunk);
    this.#files.set(key, { bytes: concat(chunks), fileName: meta.fileName });
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array>> {
    await Promise.resolve();
    this.#throwIfFailing('get');
    const file = this.#files.get(key);
    if (file === undefined) throw new FileNotFoundError(key);
    return chunksOf(file.bytes, this.#chunkSize);
  }

  async delete(key: string): Promise<void> {
    await Promise.resolve();
    this.#throwIfFailing('delete');
    this.deleted.push(key);
    this.#files.delete(key);
  }

  #throwIfFailing(operation: 'get' | 'put' | 'delete'): void {
    const error = this.#failures[operation];
    if (error !== undefined) throw error;
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

// eslint-disable-next-line @typescript-eslint/require-await -- the bytes are at hand; a reader still awaits each chunk
async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.slice(offset, offset + size);
}
