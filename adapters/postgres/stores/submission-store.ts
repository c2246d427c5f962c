/** The edge's write (ports/submission-store.port.ts): a campaign, when new, and a queued run, in one transaction. */
import { randomUUID } from 'node:crypto';
import { CampaignNotFoundError, type CreatedRun, type NewRun, type SubmissionStore } from '../../../ports/submission-store.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import type { Lanes } from '../changes.ts';
import { isUuid } from '../sql.ts';

export class PostgresSubmissionStore implements SubmissionStore {
  readonly #lanes: Lanes;

  constructor(lanes: Lanes) {
    this.#lanes = lanes;
  }

  /**
   * The run row is written once, with its file key `runs/<runId>`. A later run's campaign options
   * replace the stored values of the same names and keep the others.
   */
  createRun(run: NewRun): Change<CreatedRun> {
    const runId = run.runId ?? randomUUID();
    const options = run.options ?? {};
    return this.#lanes.transaction('createRun', { run_id: runId }, async (tx) => {
      let campaignId: string;
      if (run.campaignId !== undefined) {
        if (!isUuid(run.campaignId)) throw new CampaignNotFoundError();
        const [campaign] = await tx<{ id: string }[]>`
          update campaigns set options = options || ${tx.json(options)}
          where id = ${run.campaignId} and user_id = ${run.userId}
          returning id`;
        if (campaign === undefined) throw new CampaignNotFoundError();
        campaignId = campaign.id;
      } else if (run.campaignName !== undefined) {
        const [campaign] = await tx<{ id: string }[]>`
          insert into campaigns (user_id, name, options) values (${run.userId}, ${run.campaignName}, ${tx.json(options)}) returning id`;
        campaignId = campaign!.id;
      } else {
        throw new TypeError('createRun needs a campaignId or a campaignName');
      }
      await tx`
        insert into campaign_runs (id, campaign_id, user_id, status, demo, file_name, file_ref, research_prompt, personalization_prompt, allow_questions)
        values (${runId}, ${campaignId}, ${run.userId}, 'queued', ${run.demo}, ${run.fileName}, ${`runs/${runId}`},
                ${run.researchPrompt ?? null}, ${run.personalizationPrompt ?? null}, ${run.allowQuestions ?? false})`;
      return { runId, campaignId, userId: run.userId };
    });
  }
}
