/**
 * One pass over an upload for several readers: each chunk of the source goes to every branch
 * still reading, in order, with a few chunks of slack per branch (a slower branch holds the source
 * back rather than letting it pile up in memory). The source is always read to its end, even once
 * every branch has stopped: what follows the file in the request (the form's later fields) can
 * only be read once the file has been.
 */

/** Chunks a branch may hold before the source waits for it (64 KiB chunks: about 1 MB). */
const BRANCH_CAPACITY = 16;

export interface FanOut {
  readonly branches: readonly FanOutBranch[];
  /** Settles once the source has been read to its end (or failed); never rejects. */
  readonly done: Promise<void>;
}

export function fanOut(source: AsyncIterable<Uint8Array>, count: number): FanOut {
  const branches = Array.from({ length: count }, () => new FanOutBranch());
  const done = (async () => {
    try {
      for await (const chunk of source) {
        for (const branch of branches) branch.offer(chunk);
        for (const branch of branches) await branch.room();
      }
      for (const branch of branches) branch.end();
    } catch (error) {
      for (const branch of branches) branch.end(error);
    }
  })();
  return { branches, done };
}

/** One reader's view of the source. `stop()` (or leaving a for-await early) lets the source go on without it. */
export class FanOutBranch implements AsyncIterableIterator<Uint8Array> {
  #queue: Uint8Array[] = [];
  #ended = false;
  #failed = false;
  #error: unknown;
  #stopped = false;
  #wakeReader: (() => void) | undefined;
  #wakeSource: (() => void) | undefined;

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    while (this.#queue.length === 0 && !this.#ended && !this.#stopped) {
      await new Promise<void>((resolve) => (this.#wakeReader = resolve));
    }
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      this.#wake('source');
      return { value: chunk, done: false };
    }
    if (this.#failed && !this.#stopped) throw this.#error;
    return { value: undefined, done: true };
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.stop();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** This reader takes no more chunks. */
  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    this.#wake('source');
    this.#wake('reader');
  }

  offer(chunk: Uint8Array): void {
    if (this.#stopped) return;
    this.#queue.push(chunk);
    this.#wake('reader');
  }

  /** Resolves once the branch can take another chunk (or has stopped). */
  async room(): Promise<void> {
    while (this.#queue.length >= BRANCH_CAPACITY && !this.#stopped) {
      await new Promise<void>((resolve) => (this.#wakeSource = resolve));
    }
  }

  end(...error: [] | [unknown]): void {
    this.#ended = true;
    if (error.length > 0) {
      this.#failed = true;
      this.#error = error[0];
    }
    this.#wake('reader');
  }

  #wake(side: 'reader' | 'source'): void {
    const wake = side === 'reader' ? this.#wakeReader : this.#wakeSource;
    if (side === 'reader') this.#wakeReader = undefined;
    else this.#wakeSource = undefined;
    wake?.();
  }
}
