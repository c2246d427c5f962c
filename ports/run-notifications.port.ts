/**
 * Best-effort "something changed in this run" signals between processes (core NATS): the
 * projection notifies, the edge's live progress stream wakes up and reads the database, which
 * stays the source of truth. A lost signal only delays an update until the next poll.
 */
export interface RunNotifier {
  notify(runId: string): void;
}

export interface RunWatcher {
  /** Yields once per signal for the run until `signal` aborts. */
  watch(runId: string, signal: AbortSignal): AsyncIterable<void>;
}
