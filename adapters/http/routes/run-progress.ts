/**
 * A run's progress: its status as JSON, and the same followed live as server-sent events.
 *
 * The event stream reads the database (the source of truth) whenever the run's notifier signals a
 * change, and at least every 2 seconds in case a signal was lost or NATS is away. It sends:
 *   - `summary`: first, the run (the status JSON) and `earlier_leads`: true when settled leads
 *     older than the ones that follow are left out (GET /results lists them);
 *   - `lead`: `{ lead_id, row, status, message, error }` per settled lead: on a new connection the
 *     latest REPLAYED_LEADS only, then each one as it settles;
 *   - `status`: the run again whenever it changed;
 *   - `end`: `{ run_id, status }` once the run has ended: `completed` or `failed`, or `cancelled`
 *     once the calls in flight at the cancel are settled (`completed_at` set); then the stream closes.
 * Every event has an `id:`, the run's progress position (a lead's own, or the last one sent), the
 * same in every edge process. A client that reconnects with it (`Last-Event-ID`, as EventSource
 * does by itself, or `?lastEventId=` for the first connection of a client that cannot set
 * headers) gets the summary, then exactly the leads settled after it: none repeated, none missed.
 * A comment line keeps an idle stream open through proxies (every 15 seconds).
 *
 * Each user may hold MAX_STREAMS_PER_USER streams open at once in one edge process; one more is a
 * 429 problem with `limit: "sse_streams_per_user"`.
 *
 * A run still in progress carries `notices`: why it may be waiting, from the providers' shared
 * state, e.g. "research paused: provider out of credit" (the run resumes by itself), or that this
 * state is unknown while NATS cannot be reached (the run's own figures come from PostgreSQL). A
 * run its owner paused says so instead (it resumes only when asked).
 */
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { InvalidCursorError, type CampaignQueries, type RunView, type SettledLead } from '../../../ports/campaign-queries.port.ts';
import type { ApiStatusReader } from '../../../ports/outside-api.port.ts';
import type { RunWatcher } from '../../../ports/run-notifications.port.ts';
import type { TokenVerifier } from '../../../ports/token-verifier.port.ts';
import type { Logger } from '../../logging/logger.ts';
import type { AppEnv } from '../context.ts';
import { requireUser } from '../middleware/auth.ts';
import { problem, ProblemError } from '../problem.ts';
import { pathId } from './input.ts';

const RUN_NOT_FOUND = 'No run with this id.';
const POLL_MS = 2_000;
const HEARTBEAT_MS = 15_000;
const LEAD_PAGE_SIZE = 100;
/** Lead events a new connection gets: the latest ones; GET /results pages through the rest. */
export const REPLAYED_LEADS = 50;
/** The `retry:` sent to clients: how long EventSource waits before it reconnects. */
const RECONNECT_MS = 3_000;
/** Open event streams per user and edge process, unless configured. */
export const DEFAULT_MAX_STREAMS_PER_USER = 5;
/** What a 429 suggests: streams end when their run does or their client leaves. */
const STREAM_RETRY_AFTER_SECONDS = 30;

export interface RunProgressRoutesDeps {
  /** The status route's reads. */
  readonly queries: CampaignQueries;
  /** The event stream's reads, on the pool of long reads (default `queries`). */
  readonly streamQueries?: CampaignQueries;
  readonly watcher: RunWatcher;
  readonly providers: ApiStatusReader;
  /** Open event streams per user in this process (default DEFAULT_MAX_STREAMS_PER_USER). */
  readonly maxStreamsPerUser?: number;
}

/**
 * The status JSON: the run, each of its deliveries under its consumer's name (e.g. `webhook:
 * { delivered_at, attempts, last_error, failed_at }`), and why it may be waiting while it is in progress.
 */
export type RunStatusBody = Omit<RunView, 'deliveries'> & { readonly [consumer: string]: unknown; readonly notices: readonly string[] };

function statusBody({ deliveries, ...run }: RunView, notices: readonly string[]): RunStatusBody {
  return { ...deliveries, ...run, notices };
}

const STATE_WORDS = { paused: 'paused', circuit_open: 'unavailable (circuit open)', unknown: 'status unknown' } as const;

/** Whether the run has ended: nothing of it changes any more (a cancelled run once its calls in flight settled). */
export function runHasEnded(run: Pick<RunView, 'status' | 'completed_at'>): boolean {
  return run.status === 'completed' || run.status === 'failed' || (run.status === 'cancelled' && run.completed_at !== null);
}

/** The notice of a run its owner paused. */
export function pausedNotice(runId: string): string {
  return `paused by its owner: no provider call is made until it is resumed (POST /api/campaigns/runs/${runId}/resume)`;
}

/** Reads the status JSON of the user's run (null: not found), with its notices. */
export function statusReader(queries: CampaignQueries, providers: ApiStatusReader) {
  return async (userId: string, runId: string): Promise<RunStatusBody | null> => {
    const run = await queries.runStatus(userId, runId);
    if (run === null) return null;
    if (run.status === 'completed' || run.status === 'failed' || run.status === 'cancelled') return statusBody(run, []);
    if (run.status === 'paused') return statusBody(run, [pausedNotice(run.run_id)]);
    const notices = (await providers.current())
      .filter((api) => api.state !== 'ok')
      .map((api) => `${api.api} ${STATE_WORDS[api.state as keyof typeof STATE_WORDS]}: ${api.reason ?? 'no reason given'}`);
    return statusBody(run, notices);
  };
}

/** `GET /status/:runId` and `GET /events/:runId`. */
export function runProgressRoutes({ queries, streamQueries = queries, watcher, providers, maxStreamsPerUser = DEFAULT_MAX_STREAMS_PER_USER }: RunProgressRoutesDeps) {
  const routes = new Hono<AppEnv>();
  const readStatus = statusReader(queries, providers);
  const readStreamStatus = statusReader(streamQueries, providers);
  const slots = new StreamSlots(maxStreamsPerUser);

  routes.get('/status/:runId', async (c) => {
    const run = await readStatus(c.get('userId'), pathId(c.req.param('runId'), RUN_NOT_FOUND));
    if (run === null) throw new ProblemError(404, RUN_NOT_FOUND);
    return c.json(run);
  });

  routes.get('/events/:runId', async (c) => {
    const userId = c.get('userId');
    const runId = pathId(c.req.param('runId'), RUN_NOT_FOUND);
    const release = slots.take(userId);
    if (release === null) {
      return problem(c, 429, `You have ${maxStreamsPerUser} live progress streams open, the most allowed at once: close one, or try again later.`, {
        members: { limit: 'sse_streams_per_user', max: maxStreamsPerUser },
        headers: { 'Retry-After': String(STREAM_RETRY_AFTER_SECONDS) },
      });
    }
    try {
      // The header wins: EventSource sends it on a reconnect, with a newer id than the URL's.
      const resumeAfter = c.req.header('Last-Event-ID') ?? c.req.query('lastEventId');
      // Read before the stream starts, so an unknown run or a bad id is still a plain 4xx problem.
      const first = await readStreamStatus(userId, runId);
      if (first === null) throw new ProblemError(404, RUN_NOT_FOUND);
      const opening = await openingLeads(streamQueries, userId, runId, resumeAfter);
      const logger = c.get('logger');

      return streamSSE(c, async (stream) => {
        const stop = new AbortController();
        stream.onAbort(() => stop.abort());
        try {
          const wakeUps = new WakeUps(watcher.watch(runId, stop.signal), stop.signal, logger);
          await followRun({ queries: streamQueries, readStatus: readStreamStatus, userId, runId, first, opening, stream }, wakeUps);
        } catch (err) {
          // The client's EventSource reconnects by itself and resumes after the last id it got.
          logger.error({ err, run_id: runId }, 'run event stream failed');
        } finally {
          stop.abort();
          release();
        }
      });
    } catch (error) {
      release();
      throw error;
    }
  });

  return routes;
}

interface OpeningLeads {
  /** The position the summary stands at: the leads that follow come after it. */
  readonly from: string;
  readonly leads: readonly SettledLead[];
  readonly earlier: boolean;
}

/** A new connection's latest leads, or a resumed one's first page after its last event id. */
async function openingLeads(queries: CampaignQueries, userId: string, runId: string, resumeAfter: string | undefined): Promise<OpeningLeads> {
  if (resumeAfter === undefined || resumeAfter.trim() === '') {
    const latest = await queries.latestSettledLeads(userId, runId, REPLAYED_LEADS);
    return { from: latest.before, leads: latest.leads, earlier: latest.earlier };
  }
  try {
    const page = await queries.settledLeads(userId, runId, resumeAfter.trim(), LEAD_PAGE_SIZE);
    return { from: resumeAfter.trim(), leads: page.leads, earlier: false };
  } catch (error) {
    if (error instanceof InvalidCursorError) throw new ProblemError(400, 'Last-Event-ID (or lastEventId) is not an event id this stream sent: reconnect without it to start from the latest events.');
    throw error;
  }
}

/** Open event streams per user, in this process. */
class StreamSlots {
  readonly #max: number;
  readonly #open = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  /** A release function (safe to call twice), or null when the user holds the most already. */
  take(userId: string): (() => void) | null {
    const open = this.#open.get(userId) ?? 0;
    if (open >= this.#max) return null;
    this.#open.set(userId, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (this.#open.get(userId) ?? 1) - 1;
      if (now <= 0) this.#open.delete(userId);
      else this.#open.set(userId, now);
    };
  }
}

/**
 * Authentication for the event stream. A browser's EventSource cannot send headers, so this route
 * also takes the access token as `?access_token=`; the Authorization header wins when both are
 * sent. The access log and problem responses leave query strings out, so the token is not logged.
 */
export function requireUserForEventStream(verifier: TokenVerifier) {
  const fromHeader = requireUser(verifier);
  return createMiddleware<AppEnv>(async (c, next) => {
    const token = c.req.query('access_token');
    if (token === undefined || c.req.header('Authorization') !== undefined) return fromHeader(c, next);
    const { userId } = await verifier.verify(token);
    c.set('userId', userId);
    c.set('logger', c.get('logger').child({ user_id: userId }));
    await next();
  });
}

interface FollowedRun {
  readonly queries: CampaignQueries;
  readonly readStatus: (userId: string, runId: string) => Promise<RunStatusBody | null>;
  readonly userId: string;
  readonly runId: string;
  readonly first: RunStatusBody;
  readonly opening: OpeningLeads;
  readonly stream: SSEStreamingApi;
}

async function followRun({ queries, readStatus, userId, runId, first, opening, stream }: FollowedRun, wakeUps: WakeUps): Promise<void> {
  let lastWrite = Date.now();
  // Every event carries the position the client has reached: a lead its own, any other the last.
  let position = opening.from;
  const send = async (event: string, data: unknown, retry?: number) => {
    await stream.writeSSE({ event, data: JSON.stringify(data), id: position, ...(retry === undefined ? {} : { retry }) });
    lastWrite = Date.now();
  };
  const sendLeads = async (leads: readonly SettledLead[]) => {
    for (const lead of leads) {
      position = lead.progress;
      await send('lead', leadEvent(lead));
    }
  };

  await send('summary', { ...first, earlier_leads: opening.earlier }, RECONNECT_MS);
  await sendLeads(opening.leads);
  let shown = first;
  while (!stream.aborted) {
    // Status before leads: a run ends only once all its leads are settled, so when the status
    // read here is final, the leads read next are all of them and `end` comes after the last one.
    const run = await readStatus(userId, runId);
    if (run === null) return;
    for (;;) {
      const page = await queries.settledLeads(userId, runId, position, LEAD_PAGE_SIZE);
      await sendLeads(page.leads);
      if (page.leads.length < LEAD_PAGE_SIZE) break;
    }
    if (JSON.stringify(run) !== JSON.stringify(shown)) {
      await send('status', run);
      shown = run;
    }
    if (runHasEnded(run)) {
      await send('end', { run_id: runId, status: run.status });
      return;
    }
    await wakeUps.next(POLL_MS);
    if (Date.now() - lastWrite >= HEARTBEAT_MS) {
      await stream.write(': keep-alive\n\n');
      lastWrite = Date.now();
    }
  }
}

function leadEvent(lead: SettledLead) {
  return { lead_id: lead.id, row: lead.row, status: lead.status, message: lead.message, error: lead.error };
}

/**
 * Turns the watcher's signals into "wake up now", remembering a signal that came while the stream
 * was busy so that no change is missed. When the watcher fails (the broker is away), the stream
 * goes on with polling alone.
 */
class WakeUps {
  #pending = false;
  #wake: (() => void) | null = null;

  constructor(signals: AsyncIterable<void>, stop: AbortSignal, logger: Logger) {
    stop.addEventListener('abort', () => this.#signal(), { once: true });
    void (async () => {
      try {
        for await (const _ of signals) this.#signal();
      } catch (err) {
        if (!stop.aborted) logger.warn({ err }, 'run notifications unavailable; polling only');
      }
    })();
  }

  /** Resolves on the next signal (or one that came since the last call), or after `ms`. */
  next(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#signal(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        this.#pending = false;
        resolve();
      };
    });
  }

  #signal(): void {
    this.#pending = true;
    this.#wake?.();
  }
}
