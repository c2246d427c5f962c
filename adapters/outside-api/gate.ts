/**
 * The gate an outside API's consumer waits at before each pull: it stays shut while the API
 * cannot take work, so messages stay in the stream and spend no deliveries.
 *
 * - Breaker open: shut until it turns half-open.
 * - Breaker half-open: one message, whose call is the breaker's trial; then shut until the trial
 *   closes or reopens the breaker. If that message made no call (its work was already done, or
 *   the queue was empty), another one is let through two seconds later.
 * - Paused (an account-level failure, shared by every process): one message per probe interval
 *   across all processes (claimed with compare-and-set on the shared pause record); its call is
 *   the probe (the API lets it through: `onProbeClaimed`), and its success ends the pause for
 *   everyone.
 * - Otherwise open: as many messages as the consumer has room for.
 *
 * An API with a breaker per key has no breaker here (`breaker` undefined): one key's open circuit
 * must not stop the work of every other key, and a consumer cannot pull by key. Its gate still
 * shuts while the API is paused, since a pause is the whole account's.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Log } from '../../ports/logger.port.ts';
import type { ApiGate, ApiPause, OutsideApiName, PauseBoard } from '../../ports/outside-api.port.ts';
import type { ApiBreaker } from './breaker.ts';

/**
 * How long a trial message granted while half-open has to make its call before another is let
 * through: more than a gated pull's expiry (the runner's second), so an idle queue is not
 * mistaken for a lost trial, and a little more for the handler to reach its call.
 */
const TRIAL_GRANT_MS = 2_000;
/** The longest a shut gate waits before looking again, should a change go unheard. */
const RECHECK_MS = 1_000;

export interface GateOptions {
  readonly api: OutsideApiName;
  /** The API's one breaker; undefined when it has one per key. */
  readonly breaker: ApiBreaker | undefined;
  readonly board: PauseBoard;
  /** Between probe calls while the API is paused, across all processes. */
  readonly probeIntervalMs: number;
  /** Told when this gate claimed the probe due on `pause`: the next call of this process is it. */
  readonly onProbeClaimed: (pause: ApiPause) => void;
  readonly log: Log;
}

export class ResilienceGate implements ApiGate {
  readonly #options: GateOptions;
  /** The last trial granted: when, and for which half-open episode (its breaker's `halfOpenAt`). */
  #trial = { grantedAt: 0, episode: 0 };

  constructor(options: GateOptions) {
    this.#options = options;
  }

  async wait(signal: AbortSignal): Promise<number> {
    for (;;) {
      signal.throwIfAborted();
      const decision = await this.#decide();
      if ('permits' in decision) return decision.permits;
      await this.#nextChange(Math.min(decision.until, Date.now() + RECHECK_MS), signal);
    }
  }

  /** Messages to pull now, or the time to look again (unless something changes first). */
  async #decide(): Promise<{ readonly permits: number } | { readonly until: number }> {
    const { api, breaker, board, probeIntervalMs, log } = this.#options;
    const now = Date.now();
    if (breaker?.isOpen === true) return { until: breaker.halfOpenAt };
    const pause = board.pauseOf(api);
    if (pause !== undefined) {
      if (now < pause.probeAt) return { until: pause.probeAt };
      const claimed = await board.claimProbe(api, pause, probeIntervalMs).catch((error: unknown) => {
        log.warn({ error: error instanceof Error ? error.message : String(error) }, 'could not claim the probe of a paused API');
        return false;
      });
      if (claimed) {
        this.#options.onProbeClaimed(pause);
        log.info({}, 'API paused: letting one message through to probe it');
      }
      // Not claimed: another process probes; the watch brings the next probe time.
      return claimed ? { permits: 1 } : { until: now + RECHECK_MS };
    }
    if (breaker === undefined) return { permits: Infinity };
    if (breaker.awaitingTrial) {
      const episode = breaker.halfOpenAt;
      if (this.#trial.episode === episode && now - this.#trial.grantedAt < TRIAL_GRANT_MS) return { until: this.#trial.grantedAt + TRIAL_GRANT_MS };
      this.#trial = { grantedAt: now, episode };
      return { permits: 1 };
    }
    // Half-open with its trial under way: the trial's outcome is the next change.
    if (breaker.state === 'half_open') return { until: now + RECHECK_MS };
    return { permits: Infinity };
  }

  /** Resolves at `until` or at the first change of the breaker or the pauses, whichever is first. */
  async #nextChange(until: number, signal: AbortSignal): Promise<void> {
    const { breaker, board } = this.#options;
    const changed = new AbortController();
    const wake = () => changed.abort();
    const unsubscribe = [board.onChange(wake), ...(breaker === undefined ? [] : [breaker.onStateChange(wake)])];
    try {
      await sleep(Math.max(0, until - Date.now()), undefined, { signal: AbortSignal.any([signal, changed.signal]) });
    } catch {
      signal.throwIfAborted();
    } finally {
      for (const stop of unsubscribe) stop();
    }
  }
}
