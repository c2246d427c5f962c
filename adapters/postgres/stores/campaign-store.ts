/**
 * The edge's writes of a campaign its owner manages (ports/campaign-store.port.ts): rename it,
 * change the settings of its next runs, erase it.
 */
import type postgres from 'postgres';
import { hasEnded, type RunStatus } from '../../../domain/campaigns/run.ts';
import { CampaignNameTakenError, type CampaignChanges, type CampaignErasure, type CampaignStore } from '../../../ports/campaign-store.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import type { Lanes } from '../changes.ts';
import { errorCode, isUuid, UNIQUE_VIOLATION } from '../sql.ts';

/**
 * Leads deleted per statement when a campaign is erased: a campaign may hold 100,000 leads (and
 * their claims), and each statement must finish well within the statement timeout.
 */
const ERASE_BATCH = 5_000;

/** Migration 0014's unique index on (user_id, lower(btrim(name))). */
export const CAMPAIGN_NAME_INDEX = 'campaigns_user_id_name_key';

export class PostgresCampaignStore implements CampaignStore {
  readonly #lanes: Lanes;

  constructor(lanes: Lanes) {
    this.#lanes = lanes;
  }

  updateCampaign(userId: string, campaignId: string, changes: CampaignChanges): Change<boolean> {
    return this.#lanes.transaction('updateCampaign', { campaign_id: isUuid(campaignId) ? campaignId : '' }, async (tx) => {
      if (!isUuid(userId) || !isUuid(campaignId)) return false;
      const assignments = setClauses(tx, changes);
      if (assignments.length === 0) {
        const found = await tx`select 1 from campaigns where id = ${campaignId} and user_id = ${userId}`;
        return found.length > 0;
      }
      const set = assignments.reduce((all, clause) => tx`${all}, ${clause}`);
      // Under a savepoint, so that a name taken meanwhile (the unique index) can be answered with
      // the campaign that has it, in this same transaction.
      const updated = await tx
        .savepoint((sp) => sp`update campaigns set ${set} where id = ${campaignId} and user_id = ${userId} returning id`)
        .catch(async (error: unknown) => {
          if (changes.name === undefined || !isNameConflict(error)) throw error;
          throw new CampaignNameTakenError(await holderOfName(tx, userId, changes.name));
        });
      return updated.length > 0;
    });
  }

  /**
   * Locks the campaign's row first: a submission adding a run to it locks the same row (it
   * updates the campaign's settings), so either that run is recorded first and seen here as in
   * progress, or the campaign is gone when the submission looks for it. The leads go a batch per
   * statement (with their paid-call claims); then the campaign, and with it its runs, their
   * deliveries and idempotency keys (foreign keys, on delete cascade). The outbox has no foreign
   * key (its rows are in transit), so its rows for the campaign's runs are deleted here. All in one
   * transaction: a failure leaves the campaign whole, to be deleted again.
   */
  eraseCampaign(userId: string, campaignId: string, eraseFiles: (runIds: readonly string[]) => Promise<void>): Change<CampaignErasure> {
    return this.#lanes.transaction('eraseCampaign', { campaign_id: isUuid(campaignId) ? campaignId : '' }, async (tx): Promise<CampaignErasure> => {
      if (!isUuid(userId) || !isUuid(campaignId)) return { kind: 'not_found' };
      const [campaign] = await tx`select id from campaigns where id = ${campaignId} and user_id = ${userId} for update`;
      if (campaign === undefined) return { kind: 'not_found' };
      const runs = await tx<{ id: string; status: RunStatus; completed_at: Date | null }[]>`
        select id, status, completed_at from campaign_runs where campaign_id = ${campaignId} and user_id = ${userId} order by created_at desc, id desc`;
      // A cancelled run is still in progress until its calls in flight have settled (completed_at):
      // erasing under them would drop their results and the run's end (its webhook).
      const inProgress = runs.filter((run) => !hasEnded(run.status) || (run.status === 'cancelled' && run.completed_at === null)).map((run) => run.id);
      if (inProgress.length > 0) return { kind: 'in_progress', runIds: inProgress };
      const runIds = runs.map((run) => run.id);
      await eraseFiles(runIds);
      if (runIds.length > 0) await tx`delete from outbox where run_id = any(${runIds}::uuid[])`;
      for (;;) {
        const { count } = await tx`
          delete from leads where id = any(array(
            select id from leads where campaign_id = ${campaignId} and user_id = ${userId} limit ${ERASE_BATCH}))`;
        if (count < ERASE_BATCH) break;
      }
      await tx`delete from campaigns where id = ${campaignId} and user_id = ${userId}`;
      return { kind: 'erased', runIds };
    });
  }
}

/** The `set` assignments of the changes given; an absent change is not assigned. */
function setClauses(tx: postgres.TransactionSql, changes: CampaignChanges): postgres.PendingQuery<postgres.Row[]>[] {
  const clauses: postgres.PendingQuery<postgres.Row[]>[] = [];
  if (changes.name !== undefined) clauses.push(tx`name = ${changes.name}`);
  if (changes.researchPrompt !== undefined) clauses.push(tx`research_prompt = ${changes.researchPrompt}`);
  if (changes.personalizationPrompt !== undefined) clauses.push(tx`personalization_prompt = ${changes.personalizationPrompt}`);
  if (changes.allowQuestions !== undefined) clauses.push(tx`allow_questions = ${changes.allowQuestions}`);
  if (changes.options !== undefined && Object.keys(changes.options).length > 0) {
    const set = Object.fromEntries(Object.entries(changes.options).filter((entry): entry is [string, string] => entry[1] !== null));
    const removed = Object.keys(changes.options).filter((key) => changes.options![key] === null);
    clauses.push(tx`options = (options || ${tx.json(set)}) - ${removed}::text[]`);
  }
  return clauses;
}

export function isNameConflict(error: unknown): boolean {
  return errorCode(error) === UNIQUE_VIOLATION && (error as { constraint_name?: unknown }).constraint_name === CAMPAIGN_NAME_INDEX;
}

/** The user's campaign that has this name (compared as the unique index compares names). */
export async function holderOfName(tx: postgres.TransactionSql, userId: string, name: string): Promise<string> {
  const [holder] = await tx<{ id: string }[]>`
    select id from campaigns where user_id = ${userId} and lower(btrim(name)) = lower(btrim(${name}))`;
  if (holder === undefined) throw new Error('a campaign name conflicted with a campaign that is gone');
  return holder.id;
}
