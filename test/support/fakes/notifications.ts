/**
 * Test double (never used in production code): run notifications in one process. `notify` is
 * recorded (`notified`), and wakes every `watch` of that run, as core NATS would between the
 * projection and the edge.
 */
import type { RunNotifier, RunWatcher } from '../../../ports/run-notifications.port.ts';

export class RecordingRunNotifications implements RunNotifier, RunWatcher {
  /** Run ids notified, in order. */
  readonly notified: string[] = [];
  readonly #watchers = new Map<string, Set<() => void>>();

  notify(runId: string): void {
    this.notified.push(runId);
    for (const wake of this.#watchers.get(runId) ?? []) wake();
  }

  /** How many `watch`es of `runId` are open. */
  watching(runId: string): number {
    return this.#watchers.get(runId)?.size ?? 0;
  }

  /** How many times `runId` was notified. */
  count(runId: string): number {
    return this.notified.filter((id) => id === runId).length;
  }

  async *watch(runId: string, signal: AbortSignal): AsyncIterable<void> {
    let pending = 0;
    let wake: (() => void) | undefined;
    const onSignal = () => {
      pending += 1;
      wake?.();
    };
    const watchers = this.#watchers.get(runId) ?? new Set();
    this.#watchers.set(runId, watchers);
    watchers.add(onSignal);
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        if (pending === 0) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        if (signal.aborted) return;
        pending -= 1;
        yield;
      }
    } finally {
      watchers.delete(onSignal);
      signal.removeEventListener('abort', onAbort);
    }
  }
}
