/**
 * Group commit: many concurrent callers of one store operation, served by one statement (or
 * transaction) per batch instead of one each.
 *
 * The projection counts every settled lead into its run's row, its campaign's row and its owner's
 * KPI row: a few hot rows that every count locks until it commits. One transaction per lead
 * serialises on those row locks and a commit each (about 100 leads a second); one transaction
 * for the leads that arrived meanwhile takes the locks and the commit once.
 *
 * At most one batch runs at a time. A call made while a batch runs waits for the next one and
 * never joins the one under way, so its batch starts after the call: whatever the caller
 * committed before calling is visible to it, as it would be to a statement of its own. An idle
 * group runs a call at once, so a lone caller waits no longer than before. A failed batch fails
 * each of its calls with the batch's error.
 */
export class GroupCommit<I, O> {
  readonly #run: (inputs: readonly I[]) => Promise<readonly O[]>;
  readonly #maxBatch: number;
  #queue: { input: I; resolve: (output: O) => void; reject: (error: unknown) => void }[] = [];
  #running = false;

  /** `run` returns one output per input, in order. */
  constructor(run: (inputs: readonly I[]) => Promise<readonly O[]>, options: { maxBatch?: number } = {}) {
    this.#run = run;
    this.#maxBatch = options.maxBatch ?? 1000;
    if (!Number.isInteger(this.#maxBatch) || this.#maxBatch < 1) throw new RangeError('maxBatch must be a positive integer');
  }

  submit(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.slice(0, this.#maxBatch);
        this.#queue = this.#queue.slice(batch.length);
        try {
          const outputs = await this.#run(batch.map((call) => call.input));
          if (outputs.length !== batch.length) throw new Error(`a group commit returned ${outputs.length} results for ${batch.length} calls`);
          batch.forEach((call, index) => call.resolve(outputs[index]!));
        } catch (error) {
          for (const call of batch) call.reject(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
