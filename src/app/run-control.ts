/**
 * An owner's cancel, pause and resume of a run (the edge's `POST /api/campaigns/runs/:runId/cancel`,
 * `/pause`, `/resume`).
 *
 * "No provider call after the answer" rests on two orderings, both in PostgreSQL:
 * - the action commits the run's new status before it answers;
 * - every provider call reads the run's status last, once it has its turn and right before it is
 *   sent (LeadWorkStore.runStatusForCall, run by paidCall in consumers/lead-events.ts), in a
 *   transaction ordered with the action's by the run row's lock: a call that read the run before
 *   the action committed was let through before the answer (it is in flight: it finishes, and its
 *   result is saved and counted); one that reads after it finds the run cancelled or paused and
 *   is not sent. Its claim (taken earlier) keeps the cancel from cancelling its lead under it.
 *
 * A cancel settles at once every lead of the run with nothing in flight (`cancelled`, counted in
 * the run's `cancelled`, charged nothing more) and ends the run when nothing is left in flight;
 * otherwise the deliveries of the leads in flight end it as they settle (their results kept).
 *
 * A pause leaves the leads as they are; a delivery that finds the run paused acks its message and
 * spends nothing (no call, no delivery count), however long the pause. A resume commits again the
 * event that carries each unsettled lead on, with the run's new status, under ids of its own (the
 * broker would drop the usual ids as duplicates within its de-duplication window); a copy of a
 * lead still in the broker meanwhile finds its call claimed or done, and makes none.
 */
import type { LeadFileStore } from '../../ports/lead-file-store.port.ts';
import type { ProjectionStore } from '../../ports/projection-store.port.ts';
import type { RunControl, RunControlResult } from '../../ports/run-control.port.ts';
import type { RunControlOutcome, RunControlStore } from '../../ports/run-control-store.port.ts';
import type { RunNotifier } from '../../ports/run-notifications.port.ts';
import type { UnitOfWork } from '../../ports/unit-of-work.port.ts';
import { completionEvents, leadEvent } from './consumers/lead-events.ts';
import { runFileKey } from './submit-campaign.ts';

export interface RunControlDeps {
  readonly store: RunControlStore;
  readonly uow: UnitOfWork;
  /** Ends a resumed run that has nothing left to do. */
  readonly projection: ProjectionStore;
  /** Wakes the run's live progress streams. */
  readonly notifier: RunNotifier;
  /** The uploaded files: a run cancelled before its file was read has it deleted (it holds personal data). */
  readonly files: LeadFileStore;
}

export class RunControlService implements RunControl {
  readonly #deps: RunControlDeps;

  constructor(deps: RunControlDeps) {
    this.#deps = deps;
  }

  async cancel(userId: string, runId: string): Promise<RunControlResult> {
    const { store, uow, notifier, files } = this.#deps;
    const { outcome } = await uow.commit(store.cancelRun(userId, runId), (result) => completionEvents(result.completion));
    if (outcome.kind === 'applied') {
      notifier.notify(runId);
      // Never picked up by extraction (which discards the file of a run it stops): nobody else will.
      if (outcome.from === 'queued') await files.delete(runFileKey(runId)).catch(() => {});
    }
    return resultOf(outcome);
  }

  async pause(userId: string, runId: string): Promise<RunControlResult> {
    const outcome = await this.#deps.uow.commit(this.#deps.store.pauseRun(userId, runId));
    if (outcome.kind === 'applied') this.#deps.notifier.notify(runId);
    return resultOf(outcome);
  }

  async resume(userId: string, runId: string): Promise<RunControlResult> {
    const { store, uow, projection, notifier } = this.#deps;
    const { outcome } = await uow.commit(
      store.resumeRun(userId, runId),
      (result) => result.leads.map((lead) => leadEvent(lead.runId, lead.leadId, lead.status)),
      { redrive: `resume-${crypto.randomUUID()}` },
    );
    if (outcome.kind !== 'applied') return resultOf(outcome);
    // Every lead may have settled while the run was paused (the calls in flight): nothing would end it.
    await uow.commit(projection.completeIfSettled(runId), completionEvents);
    notifier.notify(runId);
    return resultOf(outcome);
  }
}

function resultOf(outcome: RunControlOutcome): RunControlResult {
  switch (outcome.kind) {
    case 'applied':
      return { kind: 'done', status: outcome.status, changed: true };
    case 'unchanged':
      return { kind: 'done', status: outcome.status, changed: false };
    case 'refused':
      return { kind: 'refused', status: outcome.status, reason: outcome.reason };
    case 'not_found':
      return { kind: 'not_found' };
  }
}
