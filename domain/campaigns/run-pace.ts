/**
 * How long a run in progress has left, and why it may be slower than the user expects: the
 * `eta` and `notices` of its status (GET /api/campaigns/status/:runId and the live stream).
 *
 * The estimate takes the slower of two figures, each of which may be unknown:
 * - observed: the leads still to settle at the run's recent settle rate (its latest settled leads
 *   over the time they took; while it has settled fewer than the sample, all of them since the run
 *   began), which already shows whatever holds the run back (a rate cap shared with other runs,
 *   slow providers, retries);
 * - paced: for each outside API with a requests-a-minute cap, the calls the run still needs from
 *   it at the rate the calls are spread at (and no sooner than the turns already taken, by this
 *   run and the others sharing the account), plus any hold a 429 set: at the start of a paced run,
 *   before anything settled, this alone gives the figure, and it is a floor afterwards.
 * An API the run still needs that is paused (an account failure) or has its circuit open leaves
 * the estimate unknown (null): the wait depends on someone fixing the account or on the outage.
 *
 * Pure: the caller reads the clock, the run's counts and the APIs' shared state.
 */

/** An outside API's state, as every process shares it (see ports/outside-api.port.ts ApiState). */
export type ApiPaceState = 'ok' | 'paused' | 'circuit_open' | 'unknown';

/** One outside API as the run's status sees it. */
export interface ApiPace {
  /** Its name, e.g. `research`, `personalization`, `webhook`. */
  readonly api: string;
  readonly state: ApiPaceState;
  /** Why it is not `ok`, fit to show a user; null when `ok`. */
  readonly reason: string | null;
  /**
   * Its requests-a-minute cap: the configured rate, the setting that sets it (e.g. `RESEARCH_RPM`)
   * and the calls a minute actually spread (a little under the rate); null without a cap.
   */
  readonly cap: { readonly rpm: number; readonly setting: string; readonly callsPerMinute: number } | null;
  /** Epoch ms: while calls wait for their turn under the cap, when the last turn taken so far starts; null when none waits. */
  readonly pacedUntil: number | null;
  /** Epoch ms: after a 429 with retry-after, when calls may start again; null when no hold is in force. */
  readonly heldUntil: number | null;
  /** Calls the run still needs from this API (e.g. one research call per lead still to research); 0 for none. */
  readonly calls: number;
  /** The run's leads waiting for a retry of this API's call after it failed. */
  readonly retrying: number;
}

export interface RunPaceInput {
  /** Epoch ms. */
  readonly now: number;
  /** Epoch ms the run was created. */
  readonly startedAt: number;
  /** Leads of the run not settled yet; null when not known yet (the file is still being read). */
  readonly unsettled: number | null;
  /**
   * The run's latest settled leads, as many as the sample holds: how many, when the oldest of them
   * settled (epoch ms), and whether they are all the run has settled; null before the first.
   */
  readonly recent: { readonly settled: number; readonly oldestAt: number; readonly all: boolean } | null;
  /** Every outside API the status shows, in order. */
  readonly apis: readonly ApiPace[];
}

export interface Eta {
  /** Seconds from now, rounded up. */
  readonly seconds: number;
  /** ISO 8601, to the second. */
  readonly at: string;
}

/** Why a run may be waiting: an outside API's (see runNotices), or `paused`: its owner paused the run. */
export type NoticeCode = 'paced' | 'rate_limited' | 'retrying' | 'provider_paused' | 'provider_unavailable' | 'provider_status_unknown' | 'paused';

export interface RunNotice {
  readonly code: NoticeCode;
  /** The outside API it is about; null for a notice about the run itself (`paused`). */
  readonly api: string | null;
  /** One sentence for the user. */
  readonly message: string;
}

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
/** Below this, a settle rate says more about one batch than about the run. */
const MIN_OBSERVED_MS = SECOND_MS;

/** The run's remaining time, or null while unknown. */
export function estimateEta(input: RunPaceInput): Eta | null {
  const { now, unsettled } = input;
  if (unsettled === null) return null;
  if (unsettled <= 0) return etaIn(0, now);
  const needed = input.apis.filter((api) => api.calls > 0);
  if (needed.some((api) => api.state === 'paused' || api.state === 'circuit_open')) return null;

  const holdMs = Math.max(0, ...needed.map((api) => heldFor(api, now)));
  const observed = observedMs(input);
  const paced = needed.filter((api) => api.cap !== null).map((api) => pacedMs(api, now) + heldFor(api, now));
  const candidates = [...(observed === null ? [] : [observed + holdMs]), ...paced];
  if (candidates.length === 0) return null;
  return etaIn(Math.max(...candidates), now);
}

/** The leads still to settle at the recent settle rate; null before any settled. */
function observedMs({ now, startedAt, unsettled, recent }: RunPaceInput): number | null {
  if (recent === null || recent.settled <= 0 || unsettled === null) return null;
  const since = recent.all ? Math.min(startedAt, recent.oldestAt) : recent.oldestAt;
  const perMs = recent.settled / Math.max(now - since, MIN_OBSERVED_MS);
  return unsettled / perMs;
}

/**
 * The run's calls at the cap's spread, and no sooner than the turns already taken (the run's own
 * and other runs' calls sharing the account) have started.
 */
function pacedMs(api: ApiPace, now: number): number {
  const queued = api.pacedUntil === null ? 0 : Math.max(0, api.pacedUntil - now);
  return Math.max((api.calls / api.cap!.callsPerMinute) * MINUTE_MS, queued);
}

function heldFor(api: ApiPace, now: number): number {
  return api.heldUntil === null ? 0 : Math.max(0, api.heldUntil - now);
}

function etaIn(ms: number, now: number): Eta {
  const seconds = Math.ceil(ms / SECOND_MS);
  return { seconds, at: new Date(Math.floor(now / SECOND_MS) * SECOND_MS + seconds * SECOND_MS).toISOString() };
}

/**
 * Why the run may be waiting, one notice per cause and API, in the APIs' order:
 * - `provider_paused`, `provider_unavailable`, `provider_status_unknown`: the API's shared state
 *   (an account failure, an open circuit, a state that cannot be read), for any API;
 * - `rate_limited`: the provider answered 429 and asked every call to wait; while the run needs it;
 * - `paced`: calls wait for their turn under the API's requests-a-minute cap; while the run needs it;
 * - `retrying`: leads of the run wait for a retry after a failed call.
 */
export function runNotices(input: RunPaceInput, eta: Eta | null): RunNotice[] {
  const { now } = input;
  const notices: RunNotice[] = [];
  for (const api of input.apis) {
    const name = api.api;
    const reason = api.reason ?? 'no reason given';
    if (api.state === 'paused') {
      notices.push({ code: 'provider_paused', api: name, message: `${name} paused: ${reason}` });
    } else if (api.state === 'circuit_open') {
      notices.push({ code: 'provider_unavailable', api: name, message: `${name} unavailable (circuit open): ${reason}` });
    } else if (api.state === 'unknown') {
      notices.push({ code: 'provider_status_unknown', api: name, message: `${name} status unknown: ${reason}` });
    }
    if (api.calls > 0 && api.state !== 'paused') {
      const held = heldFor(api, now);
      if (held > 0) {
        notices.push({
          code: 'rate_limited',
          api: name,
          message: `${capitalized(name)} is rate limited by the provider (HTTP 429): its calls resume in ${duration(held)}.`,
        });
      } else if (isPaced(api, now)) {
        const cap = api.cap!;
        notices.push({
          code: 'paced',
          api: name,
          message: `${capitalized(name)} is paced at ${cap.rpm} requests a minute (${cap.setting})${eta === null ? '' : `: ${duration(eta.seconds * SECOND_MS)} left`}.`,
        });
      }
    }
    if (api.retrying > 0) {
      const leads = api.retrying === 1 ? '1 lead waits' : `${api.retrying} leads wait`;
      notices.push({ code: 'retrying', api: name, message: `${leads} to retry ${name} after a failed call (retried with backoff).` });
    }
  }
  return notices;
}

/** Calls wait for their turn: turns are taken further ahead than the next one. */
function isPaced(api: ApiPace, now: number): boolean {
  if (api.cap === null || api.pacedUntil === null) return false;
  return api.pacedUntil - now > MINUTE_MS / api.cap.callsPerMinute;
}

/** A wait in words: "a few seconds", "about 30 seconds", "about 40 minutes", "about 1 hour 5 minutes". */
export function duration(ms: number): string {
  const seconds = Math.ceil(ms / SECOND_MS);
  if (seconds < 60) return seconds <= 5 ? 'a few seconds' : `about ${Math.ceil(seconds / 5) * 5} seconds`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${plural(minutes, 'minute')}`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `about ${plural(hours, 'hour')}${rest === 0 ? '' : ` ${plural(rest, 'minute')}`}`;
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
