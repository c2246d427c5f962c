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
import type { RunControlAction } from '../../../domain/campaigns/run.ts';
import type { AppEnv } from '../context.ts';
import { describeApiRoute, jsonResponse, pathParam, problems } from '../openapi.ts';
import { ProblemError } from '../problem.ts';
import { RunStatusBody, statusReader } from './run-progress.ts';

const RUN_NOT_FOUND = 'No run with this id.';

/** The path of the three routes: the run's id (anything else is a 404, as for an unknown run). */
export const RunControlPath = v.object({ runId: v.pipe(v.string(), v.uuid(RUN_NOT_FOUND)) });

/** Each action's description: what it does, and when it is refused. */
const ACTION_DOCS: Readonly<Record<RunControlAction, { operationId: string; summary: string; description: string; refused: string }>> = {
  cancel: {
    operationId: 'cancelRun',
    summary: 'Cancel a run',
    description: [
      'Stops the run for good. Once this answers, no provider call starts for the run: its leads not started end `cancelled` (counted in `cancelled`, not in `processed`, charged nothing more); calls already in flight finish and their results are kept and counted.',
      'The run ends (`completed_at`, the `end` event of its stream, its webhook with status `cancelled`) once nothing of it is in flight: at once when nothing was.',
      'Cancelling a cancelled run is not an error: 200, the run as it is.',
    ].join('\n\n'),
    refused: 'The run has ended (completed or failed): there is nothing left to cancel (`run_status`).',
  },
  pause: {
    operationId: 'pauseRun',
    summary: 'Pause a run',
    description: [
      'Stops the run\'s provider calls until it is resumed. Once this answers, no provider call starts for the run; calls in flight finish and are kept and counted; nothing is failed, lost or charged meanwhile. A paused run\'s file is still read.',
      'Its status shows `paused`, `paused_at` and a `paused` notice. A paused run counts as a run in progress (quotas, deleting or re-running its campaign).',
      'Pausing a paused run is not an error: 200, the run as it is.',
    ].join('\n\n'),
    refused: 'The run has ended (completed, failed or cancelled): there is nothing left to pause (`run_status`).',
  },
  resume: {
    operationId: 'resumeRun',
    summary: 'Resume a paused run',
    description: 'Carries a paused run on where it stopped: its leads not settled are started again, each exactly once (`personalizing`, or `extracting` while its file was not read to the end).',
    refused: 'The run is not paused (`run_status`): only a paused run can be resumed.',
  },
};

function actionDoc(action: RunControlAction) {
  const doc = ACTION_DOCS[action];
  return describeApiRoute({
    operationId: doc.operationId,
    tags: ['Runs'],
    summary: doc.summary,
    description: doc.description,
    parameters: [pathParam('runId', "The run id, from the submission's answer.")],
    responses: {
      200: jsonResponse('The run once the change is committed, as `GET /api/campaigns/status/{runId}` shows it.', RunStatusBody),
      ...problems({ 404: 'No run with this id (or not yours).', 409: doc.refused }),
    },
  });
}

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
    routes.post(`/runs/:runId/${action}`, actionDoc(action), async (c) => {
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
