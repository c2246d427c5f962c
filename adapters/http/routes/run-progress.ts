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
 * A run still in progress carries `eta` (`{ seconds, at }`, or null while unknown) and `notices`
 * (`[{ code, api, message }]`): why it may be waiting, from the providers' shared state and the
 * run's own leads (domain/campaigns/run-pace.ts): paced by a requests-a-minute cap (`paced`), held
 * after a 429 (`rate_limited`), leads waiting for a retry (`retrying`), an API paused for an
 * account failure (`provider_paused`: the run resumes by itself), its circuit open
 * (`provider_unavailable`), or its state unknown while NATS cannot be reached
 * (`provider_status_unknown`; the run's own figures come from PostgreSQL). A run its owner paused
 * says so instead (`paused`, `api: null`, `eta: null`: it resumes only when asked). An ended run
 * (and a cancelled one) has neither: `eta: null, notices: []`.
 */
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import * as v from 'valibot';
import { hasEnded, type RunStatus } from '../../../domain/campaigns/run.ts';
import { estimateEta, runNotices, type ApiPace, type Eta, type NoticeCode, type RunNotice, type RunPaceInput } from '../../../domain/campaigns/run-pace.ts';
import { DEFAULT_ESTIMATE_ASSUMPTIONS } from '../../../domain/pricing/pricing.ts';
import { InvalidCursorError, type CampaignQueries, type RunActivity, type RunView, type SettledLead } from '../../../ports/campaign-queries.port.ts';
import type { ApiStatus, ApiStatusReader } from '../../../ports/outside-api.port.ts';
import { RATE_HEADROOM } from '../../outside-api/limiter.ts';
import { PERSONALIZATION_API, PROVIDER_RATE_SETTINGS, RESEARCH_API } from '../../providers/apis.ts';
import type { RunWatcher } from '../../../ports/run-notifications.port.ts';
import type { TokenVerifier } from '../../../ports/token-verifier.port.ts';
import type { Logger } from '../../logging/logger.ts';
import type { AppEnv } from '../context.ts';
import { requireUser } from '../middleware/auth.ts';
import { describeApiRoute, EVENT_STREAM_SECURITY, headerParam, type FieldSchemas, jsonResponse, pathParam, problems, queryParams, responseHeader } from '../openapi.ts';
import { problem, ProblemError } from '../problem.ts';
import { parseInput, pathId } from './input.ts';

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
 * { delivered_at, attempts, last_error, failed_at }`), and, while it is in progress, when it
 * should end and why it may be waiting.
 */
type RunStatusBody = RunStatusOwnFields & { readonly [consumer: string]: unknown };

/** The status's own fields: the run's, and its estimate and notices. */
type RunStatusOwnFields = Omit<RunView, 'deliveries'> & {
  readonly eta: Eta | null;
  readonly notices: readonly RunNotice[];
};

function statusBody({ deliveries, ...run }: RunView, eta: Eta | null, notices: readonly RunNotice[]): RunStatusBody {
  return { ...deliveries, ...run, eta, notices };
}

/** Every run status, as a record so that the compiler notices a status added to the domain. */
export const RUN_STATUSES = Object.keys({
  queued: true,
  extracting: true,
  personalizing: true,
  paused: true,
  completed: true,
  failed: true,
  cancelled: true,
} satisfies Record<RunStatus, true>) as RunStatus[];

/** Every notice code, as a record so that the compiler notices a code added to the domain. */
const NOTICE_CODES = Object.keys({
  paced: true,
  rate_limited: true,
  retrying: true,
  provider_paused: true,
  provider_unavailable: true,
  provider_status_unknown: true,
  paused: true,
} satisfies Record<NoticeCode, true>) as NoticeCode[];

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const Timestamp = v.pipe(v.string(), v.isoTimestamp());

/** A delivery's progress, under its consumer's name in the status (e.g. `webhook`). */
export const DeliveryBody = v.object({
  delivered_at: v.nullable(Timestamp),
  attempts: Count,
  last_error: v.pipe(v.nullable(v.string()), v.description('Why the last attempt failed; null after a success.')),
  failed_at: v.pipe(v.nullable(Timestamp), v.description('When the consumer gave up; null unless it did.')),
});

export const RunStatusBody = v.pipe(
  v.objectWithRest(
    {
      run_id: v.pipe(v.string(), v.uuid()),
      campaign_id: v.pipe(v.string(), v.uuid()),
      status: v.picklist(RUN_STATUSES),
      total_rows: Count,
      valid: Count,
      duplicates: Count,
      rejected_rows: Count,
      skipped: v.pipe(Count, v.description('Leads an earlier run of the campaign already personalized: no provider call.')),
      processed: Count,
      personalized: Count,
      needs_review: v.pipe(Count, v.description('Drafts that failed the quality gates twice: kept for review, not counted as personalized.')),
      failed: Count,
      suppressed: v.pipe(Count, v.description("Leads on the owner's suppression list, or personalized lately in another campaign: ended before any provider call.")),
      cancelled: v.pipe(Count, v.description("Leads the run's cancel left unsettled: not processed, charged only what was paid for them before the cancel.")),
      cost_usd: v.pipe(v.number(), v.minValue(0), v.description("USD spent on the run's counted leads, at most 6 decimals.")),
      research_cache_hits: v.pipe(Count, v.description("Counted leads whose research this run did not pay for (another lead's of the same company, or reused by a re-run).")),
      error_message: v.nullable(v.string()),
      created_at: Timestamp,
      updated_at: Timestamp,
      completed_at: v.pipe(v.nullable(Timestamp), v.description('When the run ended; a cancelled run ends once the calls in flight at its cancel are settled.')),
      sandbox: v.pipe(v.boolean(), v.description('Made on the in-process sandbox: made-up output at $0, not in the KPIs.')),
      cancelled_at: v.pipe(v.nullable(Timestamp), v.description('When its owner cancelled the run; null unless cancelled.')),
      paused_at: v.pipe(v.nullable(Timestamp), v.description('When its owner paused the run; null unless it is paused now.')),
      eta: v.pipe(
        v.nullable(v.object({ seconds: Count, at: Timestamp })),
        v.description('While the run is in progress: when it should end (seconds from now, and the time); null while unknown, paused or ended.'),
      ),
      notices: v.pipe(
        v.array(v.object({ code: v.picklist(NOTICE_CODES), api: v.nullable(v.string()), message: v.string() })),
        v.description(
          `While the run is in progress: why it may be waiting, one per cause and API (\`api\`; null for \`paused\`, a run its owner paused). Codes: ${NOTICE_CODES.map((code) => `\`${code}\``).join(', ')}.`,
        ),
      ),
    } satisfies FieldSchemas<RunStatusOwnFields>,
    DeliveryBody,
  ),
  v.description("The run; each of its deliveries (e.g. the completion webhook's) under its consumer's name."),
);

/** The event stream's query: where to resume, and the token for clients that cannot send headers. */
export const EventsQuery = v.object({
  lastEventId: v.optional(v.string()),
  access_token: v.optional(v.string()),
});

const RUN_ID = pathParam('runId', "The run id, from the submission's answer.");

const statusDoc = describeApiRoute({
  operationId: 'getRunStatus',
  tags: ['Runs'],
  summary: "A run's status",
  description:
    "Status, totals, counters, cost, error and timestamps; while it is in progress `eta` and `notices` (why it may be waiting: an outside API's pace or state, or `paused` by its owner); each delivery under its consumer's name.",
  parameters: [RUN_ID],
  responses: { 200: jsonResponse('The run.', RunStatusBody), ...problems({ 404: 'No run with this id (or not yours).' }) },
});

const eventsDoc = describeApiRoute({
  operationId: 'followRunEvents',
  tags: ['Runs'],
  summary: "A run's live progress (server-sent events)",
  description: [
    "WHATWG server-sent events; each has an `event:` name, a JSON `data:` line and an `id:` (the run's progress position).",
    '- `summary`: first, on every connection: the status (as GET /status) plus `earlier_leads`, true when settled leads older than the ones that follow are left out (GET /results lists them).',
    '- `lead`: `{ lead_id, row, status, message, error }`: the latest 50 settled leads on a new connection, then each one as it settles.',
    '- `status`: the status again whenever the run changed.',
    '- `end`: `{ run_id, status }` once the run has ended: completed or failed, or cancelled once the calls in flight at the cancel are settled (`completed_at` set); the stream then closes.',
    'Reconnecting with `Last-Event-ID` (EventSource does) gives the summary, then exactly the leads settled after that id. A comment line keeps an idle stream open every 15 seconds.',
  ].join('\n'),
  security: EVENT_STREAM_SECURITY,
  parameters: [
    RUN_ID,
    ...queryParams(EventsQuery, {
      lastEventId: 'Resume after this event id, for a first connection that cannot send Last-Event-ID (the header wins).',
      access_token: "The access token, for browsers' EventSource, which cannot send headers (the Authorization header wins). Never logged.",
    }),
    headerParam('Last-Event-ID', 'Resume after this event id (EventSource sends it when it reconnects).'),
  ],
  responses: {
    200: {
      description: 'The event stream.',
      headers: { 'Cache-Control': responseHeader('no-cache') },
      content: { 'text/event-stream': { schema: { type: 'string', description: 'Events of three lines each, `event: <name>`, `data: <JSON>` and `id: <position>`, and a blank line.' } } },
    },
    ...problems({
      400: 'Last-Event-ID (or lastEventId) is not an event id this stream sent.',
      404: 'No run with this id (or not yours).',
      429: 'Too many open streams for this user (`limit`: sse_streams_per_user); Retry-After: 30.',
    }),
  },
});

/** Whether the run has ended: nothing of it changes any more (a cancelled run once its calls in flight settled). */
export function runHasEnded(run: Pick<RunView, 'status' | 'completed_at'>): boolean {
  return run.status === 'completed' || run.status === 'failed' || (run.status === 'cancelled' && run.completed_at !== null);
}

/** The notice of a run its owner paused (its only one: it waits for nothing else). */
export function pausedNotice(runId: string): RunNotice {
  return {
    code: 'paused',
    api: null,
    message: `Paused by its owner: no provider call is made until it is resumed (POST /api/campaigns/runs/${runId}/resume).`,
  };
}

/** Reads the status JSON of the user's run (null: not found), with its notices. */
export function statusReader(queries: CampaignQueries, providers: ApiStatusReader) {
  return async (userId: string, runId: string): Promise<RunStatusBody | null> => {
    const run = await queries.runStatus(userId, runId);
    if (run === null) return null;
    if (hasEnded(run.status)) return statusBody(run, null, []);
    if (run.status === 'paused') return statusBody(run, null, [pausedNotice(run.run_id)]);
    const [statuses, activity] = await Promise.all([providers.current(), queries.runActivity(userId, runId)]);
    if (activity === null) return null;
    const pace = paceInput(activity, statuses, Date.now());
    const eta = estimateEta(pace);
    return statusBody(run, eta, runNotices(pace, eta));
  };
}

/**
 * The run's calls still to make per provider: a research call per lead not researched yet, and
 * writer calls (with the quality gates' rewrites) per lead not settled. Other APIs (the webhook,
 * after the run) hold no lead back.
 */
export function paceInput(activity: RunActivity, statuses: readonly ApiStatus[], now: number): RunPaceInput {
  const unsettled = activity.unsettled;
  const calls: Readonly<Record<string, number>> = {
    [RESEARCH_API]: unsettled === null ? 0 : Math.max(0, unsettled - activity.researched),
    [PERSONALIZATION_API]: unsettled === null ? 0 : Math.ceil(unsettled * DEFAULT_ESTIMATE_ASSUMPTIONS.writerCallsPerLead),
  };
  const retrying: Readonly<Record<string, number>> = {
    [RESEARCH_API]: activity.retrying.research,
    [PERSONALIZATION_API]: activity.retrying.personalization,
  };
  const time = (iso: string | null | undefined) => (iso == null ? null : Date.parse(iso));
  const apis = statuses.map((status): ApiPace => {
    const rpm = status.rpm ?? null;
    const setting = (PROVIDER_RATE_SETTINGS as Readonly<Record<string, string>>)[status.api] ?? 'its rate limit';
    return {
      api: status.api,
      state: status.state,
      reason: status.reason,
      cap: rpm === null || rpm <= 0 ? null : { rpm, setting, callsPerMinute: rpm * RATE_HEADROOM },
      pacedUntil: time(status.pacedUntil),
      heldUntil: time(status.heldUntil),
      calls: calls[status.api] ?? 0,
      retrying: retrying[status.api] ?? 0,
    };
  });
  return { now, startedAt: activity.startedAt, unsettled, recent: activity.recent, apis };
}

/**
 * Whether the live stream should send the status again: anything but the estimate changed, or
 * the estimate appeared, went, or moved by more than ETA_SLACK (its countdown is the client's).
 */
function changed(shown: RunStatusBody, now: RunStatusBody): boolean {
  const { eta: before, ...rest } = shown;
  const { eta: after, ...next } = now;
  if (JSON.stringify(rest) !== JSON.stringify(next)) return true;
  if (before === null || after === null) return before !== after;
  const moved = Math.abs(Date.parse(after.at) - Date.parse(before.at));
  return moved > Math.max(ETA_SLACK_MS, after.seconds * 1_000 * ETA_SLACK_SHARE);
}

/** How far the estimate may move before the stream tells it again: 5 s, or a tenth of what is left. */
const ETA_SLACK_MS = 5_000;
const ETA_SLACK_SHARE = 0.1;

/** `GET /status/:runId` and `GET /events/:runId`. */
export function runProgressRoutes({ queries, streamQueries = queries, watcher, providers, maxStreamsPerUser = DEFAULT_MAX_STREAMS_PER_USER }: RunProgressRoutesDeps) {
  const routes = new Hono<AppEnv>();
  const readStatus = statusReader(queries, providers);
  const readStreamStatus = statusReader(streamQueries, providers);
  const slots = new StreamSlots(maxStreamsPerUser);

  routes.get('/status/:runId', statusDoc, async (c) => {
    const run = await readStatus(c.get('userId'), pathId(c.req.param('runId'), RUN_NOT_FOUND));
    if (run === null) throw new ProblemError(404, RUN_NOT_FOUND);
    return c.json(run);
  });

  routes.get('/events/:runId', eventsDoc, async (c) => {
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
      const resumeAfter = c.req.header('Last-Event-ID') ?? parseInput(EventsQuery, c.req.query()).lastEventId;
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
    if (changed(shown, run)) {
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
