/**
 * Where an uploaded lead file waits for the extraction consumer (the claim check: events carry
 * the key, never the file). Keys are chosen by the caller and unique per run.
 */
export interface LeadFileStore {
  put(key: string, file: AsyncIterable<Uint8Array>, meta: { readonly fileName: string }): Promise<void>;
  /** The stored bytes, streamed. Rejects with `FileNotFoundError` when the key is unknown. */
  get(key: string): Promise<AsyncIterable<Uint8Array>>;
  delete(key: string): Promise<void>;
}

export class FileNotFoundError extends Error {
  constructor(key: string) {
    super(`no stored file under ${key}`);
    this.name = 'FileNotFoundError';
  }
}
