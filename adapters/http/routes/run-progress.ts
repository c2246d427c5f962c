/**
 * A run's progress: its status as JSON, and the same followed live as server-sent events.
 *
 * The event stream reads the database (the source of truth) whenever the run's notifier signals a
 * change, and at least every 2 seconds in case a signal was lost. It sends:
 *   - `status`: the run (the status JSON), first on connecting, then whenever it changed;
 *   - `lead`: `{ lead_id, row, status, message, error }` for each settled lead of the run, every
 *     lead settled before the client connected included, so a late client gets the whole picture;
 *   - `end`: `{ run_id, status }` once the run is `completed` or `failed`; then the stream closes.
 * A comment line keeps an idle stream open through proxies (every 15 seconds).
 *
 * A run still in progress carries `notices`: why it may be waiting, from the providers' shared
 * state, e.g. "research paused: provider out of credit" (the run resumes by itself).
 */
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { CampaignQueries, LeadView, RunView } from '../../../ports/campaign-queries.port.ts';
import type { ApiStatusReader } from '../../../ports/outside-api.port.ts';
import type { RunWatcher } from '../../../ports/run-notifications.port.ts';
import type { TokenVerifier } from '../../../ports/token-verifier.port.ts';
import type { Logger } from '../../logging/logger.ts';
import type { AppEnv } from '../context.ts';
import { requireUser } from '../middleware/auth.ts';
import { ProblemError } from '../problem.ts';
import { pathId } from './input.ts';

const RUN_NOT_FOUND = 'No run with this id.';
const POLL_MS = 2_000;
const HEARTBEAT_MS = 15_000;
const LEAD_PAGE_SIZE = 100;

export interface RunProgressRoutesDeps {
  readonly queries: CampaignQueries;
  readonly watcher: RunWatcher;
  readonly providers: ApiStatusReader;
}

/**
 * The status JSON: the run, each of its deliveries under its consumer's name (e.g. `webhook:
 * { delivered_at, attempts, last_error, failed_at }`), and why it may be waiting while it is in progress.
 */
type RunStatusBody = Omit<RunView, 'deliveries'> & { readonly [consumer: string]: unknown; readonly notices: readonly string[] };

function statusBody({ deliveries, ...run }: RunView, notices: readonly string[]): RunStatusBody {
  return { ...deliveries, ...run, notices };
}

const STATE_WORDS = { paused: 'paused', circuit_open: 'unavailable (circuit open)' } as const;

function statusReader(queries: CampaignQueries, providers: ApiStatusReader) {
  return async (userId: string, runId: string): Promise<RunStatusBody | null> => {
    const run = await queries.runStatus(userId, runId);
    if (run === null) return null;
    if (run.status === 'completed' || run.status === 'failed') return statusBody(run, []);
    const notices = (await providers.current())
      .filter((api) => api.state !== 'ok')
      .map((api) => `${api.api} ${STATE_WORDS[api.state as keyof typeof STATE_WORDS]}: ${api.reason ?? 'no reason given'}`);
    return statusBody(run, notices);
  };
}

/** `GET /status/:runId` and `GET /events/:runId`. */
export function runProgressRoutes({ queries, watcher, providers }: RunProgressRoutesDeps) {
  const routes = new Hono<AppEnv>();
  const readStatus = statusReader(queries, providers);

  routes.get('/status/:runId', async (c) => {
    const run = await readStatus(c.get('userId'), pathId(c.req.param('runId'), RUN_NOT_FOUND));
    if (run === null) throw new ProblemError(404, RUN_NOT_FOUND);
    return c.json(run);
  });

  routes.get('/events/:runId', async (c) => {
    const userId = c.get('userId');
    const runId = pathId(c.req.param('runId'), RUN_NOT_FOUND);
    // Read before the stream starts, so an unknown run is still a plain 404 problem.
    const first = await readStatus(userId, runId);
    if (first === null) throw new ProblemError(404, RUN_NOT_FOUND);
    const logger = c.get('logger');

    return streamSSE(c, async (stream) => {
      const stop = new AbortController();
      stream.onAbort(() => stop.abort());
      try {
        const wakeUps = new WakeUps(watcher.watch(runId, stop.signal), stop.signal, logger);
        await followRun({ queries, readStatus, userId, runId, first, stream }, wakeUps);
      } catch (err) {
        // The client's EventSource reconnects by itself and starts again from the current state.
        logger.error({ err, run_id: runId }, 'run event stream failed');
      } finally {
        stop.abort();
      }
    });
  });

  return routes;
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
  readonly stream: SSEStreamingApi;
}

async function followRun({ queries, readStatus, userId, runId, first, stream }: FollowedRun, wakeUps: WakeUps): Promise<void> {
  let lastWrite = Date.now();
  const send = async (event: string, data: unknown) => {
    await stream.writeSSE({ event, data: JSON.stringify(data) });
    lastWrite = Date.now();
  };

  await send('status', first);
  let shown = first;
  let cursor: string | null = null;
  while (!stream.aborted) {
    // Status before leads: a run ends only once all its leads are settled, so when the status
    // read here is final, the leads read next are all of them and `end` comes after the last one.
    const run = await readStatus(userId, runId);
    if (run === null) return;
    for (;;) {
      const page = await queries.settledLeads(userId, runId, cursor, LEAD_PAGE_SIZE);
      for (const lead of page.leads) await send('lead', leadEvent(lead));
      cursor = page.cursor ?? cursor;
      if (page.leads.length < LEAD_PAGE_SIZE) break;
    }
    if (JSON.stringify(run) !== JSON.stringify(shown)) {
      await send('status', run);
      shown = run;
    }
    if (run.status === 'completed' || run.status === 'failed') {
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

function leadEvent(lead: LeadView) {
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
