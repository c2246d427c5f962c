/**
 * "This run changed" signals on core NATS (`<prefix>aga.run.<runId>.changed`, empty payload):
 * fire-and-forget, nothing stored. The database stays the source of truth; a lost signal only
 * delays a live update until the watcher's next poll.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { RunNotifier, RunWatcher } from '../../ports/run-notifications.port.ts';
import { assertSubjectPrefix, runChangedSubject } from './subjects.ts';

export class NatsRunNotifications implements RunNotifier, RunWatcher {
  readonly #nc: NatsConnection;
  readonly #prefix: string;

  constructor(nc: NatsConnection, options: { readonly prefix?: string } = {}) {
    this.#prefix = options.prefix ?? '';
    assertSubjectPrefix(this.#prefix);
    this.#nc = nc;
  }

  /** Never throws: a closed or draining connection only loses the signal. */
  notify(runId: string): void {
    try {
      this.#nc.publish(runChangedSubject(runId, this.#prefix));
    } catch {
      // Best effort by contract: watchers poll the database as well.
    }
  }

  /**
   * Signals that arrive while the caller is busy with the previous one are coalesced into one:
   * the caller re-reads the whole state anyway. Also ends when the connection closes (shutdown).
   */
  async *watch(runId: string, signal: AbortSignal): AsyncIterable<void> {
    if (signal.aborted) return;
    let pending = false;
    let wake: (() => void) | undefined;
    const wakeUp = () => {
      wake?.();
      wake = undefined;
    };
    const subscription = this.#nc.subscribe(runChangedSubject(runId, this.#prefix), {
      callback: () => {
        pending = true;
        wakeUp();
      },
    });
    let closed = false;
    void subscription.closed.then(() => {
      closed = true;
      wakeUp();
    });
    signal.addEventListener('abort', wakeUp, { once: true });
    try {
      while (!signal.aborted && !closed) {
        if (!pending) await new Promise<void>((resolve) => (wake = resolve));
        if (signal.aborted || closed) return;
        if (pending) {
          pending = false;
          yield;
        }
      }
    } finally {
      signal.removeEventListener('abort', wakeUp);
      subscription.unsubscribe();
    }
  }
}
