/**
 * A run's owner stops it or lets it go on:
 *   - `POST /runs/:runId/cancel`: for good. No provider call starts after the answer; the leads not
 *     started end `cancelled` (in the status's `cancelled`, not in `processed`, charged nothing
 *     more); calls in flight finish and are kept. The run ends (`completed_at`, the `end` event
 *     of its stream, its webhook) once nothing of it is in flight.
 *   - `POST /runs/:runId/pause`: until resumed. No provider call starts after the answer; calls in
 *     flight finish and are kept; nothing is failed, lost or charged meanwhile.
 *   - `POST /runs/:runId/resume`: a paused run goes on where it stopped.
 *
 * Each answers 200 with the run's status JSON (as `GET /status/:runId`) once the change is
 * committed. Asking again for what is already so (a cancel of a cancelled run, a pause of a paused
 * one) is not an error: 200 again, the run as it is. An action that makes no sense for the run
 * (cancel or pause an ended run, resume a run that is not paused) is a 409 problem with the run's
 * `run_status`; another user's run, like an unknown one, a 404.
 */
import { Hono } from 'hono';
import * as v from 'valibot';
import type { CampaignQueries } from '../../../ports/campaign-queries.port.ts';
import type { ApiStatusReader } from '../../../ports/outside-api.port.ts';
import type { RunControl, RunControlResult } from '../../../ports/run-control.port.ts';
import type { AppEnv } from '../context.ts';
import { ProblemError } from '../problem.ts';
import { statusReader } from './run-progress.ts';

const RUN_NOT_FOUND = 'No run with this id.';

/** The path of the three routes: the run's id (anything else is a 404, as for an unknown run). */
export const RunControlPath = v.object({ runId: v.pipe(v.string(), v.uuid(RUN_NOT_FOUND)) });

export interface RunControlRoutesDeps {
  readonly runControl: RunControl;
  /** The status read back for the answer. */
  readonly queries: CampaignQueries;
  readonly providers: ApiStatusReader;
}

export function runControlRoutes({ runControl, queries, providers }: RunControlRoutesDeps) {
  const routes = new Hono<AppEnv>();
  const readStatus = statusReader(queries, providers);

  for (const action of ['cancel', 'pause', 'resume'] as const) {
    routes.post(`/runs/:runId/${action}`, async (c) => {
      const parsed = v.safeParse(RunControlPath, { runId: c.req.param('runId') });
      if (!parsed.success) throw new ProblemError(404, RUN_NOT_FOUND);
      const { runId } = parsed.output;
      const userId = c.get('userId');
      const result: RunControlResult = await runControl[action](userId, runId);
      if (result.kind === 'not_found') throw new ProblemError(404, RUN_NOT_FOUND);
      if (result.kind === 'refused') throw new ProblemError(409, result.reason, {}, { members: { run_status: result.status } });
      c.get('logger').info({ run_id: runId, action, status: result.status, changed: result.changed }, `run ${action}: ${result.changed ? 'done' : 'nothing to do'}`);
      const run = await readStatus(userId, runId);
      if (run === null) throw new ProblemError(404, RUN_NOT_FOUND);
      return c.json(run);
    });
  }

  return routes;
}
