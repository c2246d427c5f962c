/** Submission of a lead file against the in-memory doubles, with the real (pure) CSV reader. */
import { describe, expect, it } from 'vitest';
import { CsvLeadFileReader } from '../../../adapters/csv/csv-lead-file-reader.ts';
import { DEFAULT_IMPORT_LIMITS, ImportError } from '../../../domain/leads/import-error.ts';
import { CampaignNotFoundError } from '../../../ports/submission-store.port.ts';
import { InvalidCampaignOption, type SubmissionDetails } from '../../../ports/submit-campaign.port.ts';
import { runFileKey, SubmitCampaignService, type SubmitCampaignDeps } from '../../../src/app/submit-campaign.ts';
import { inMemoryPipeline, queuedRun, type InMemoryPipeline } from '../../support/fakes/index.ts';

const VALID = 'Email,Company\nada@example.com,Analytical Engines\nbob@example.com,Bobcat\n';
const USER = '6f1c2b1e-2a55-4f0e-9d57-6f1b7a3c2d10';

// eslint-disable-next-line @typescript-eslint/require-await -- an upload arrives chunk by chunk; these are at hand
async function* upload(text: string, chunkSize = 16, after?: () => void): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  try {
    for (let offset = 0; offset < bytes.length; offset += chunkSize) yield bytes.slice(offset, offset + chunkSize);
  } finally {
    after?.();
  }
}

function service(p: InMemoryPipeline, deps: Partial<SubmitCampaignDeps> = {}) {
  return new SubmitCampaignService({ reader: new CsvLeadFileReader(), limits: DEFAULT_IMPORT_LIMITS, store: p.store, uow: p.uow, files: p.files, ...deps });
}

function details(submission: Partial<SubmissionDetails> = {}): Promise<SubmissionDetails> {
  return Promise.resolve({ campaignName: 'Q3 outbound', demo: false, ...submission });
}

function expectNothingKept(p: InMemoryPipeline): void {
  expect(p.store.counts()).toEqual({ campaigns: 0, runs: 0, leads: 0 });
  expect(p.outbox.committed()).toEqual([]);
  expect(p.files.keys()).toEqual([]);
}

describe('SubmitCampaignService', () => {
  it('stores a valid file under its run, and commits the run with its campaign.submitted event together', async () => {
    const p = inMemoryPipeline();
    const submitted = await service(p).submit({
      userId: USER,
      file: upload(VALID),
      fileName: 'leads.csv',
      details: details({ demo: true, researchPrompt: 'Funding news.', personalizationPrompt: 'Be brief.', allowQuestions: true }),
    });

    expect(p.uow.commits).toEqual([
      {
        name: 'createRun',
        result: { runId: submitted.runId, campaignId: submitted.campaignId, userId: USER },
        events: [{ type: 'campaign.submitted', run_id: submitted.runId, campaign_id: submitted.campaignId, user_id: USER }],
      },
    ]);
    expect(p.store.run(submitted.runId)).toMatchObject({
      status: 'queued',
      userId: USER,
      demo: true,
      fileName: 'leads.csv',
      researchPrompt: 'Funding news.',
      personalizationPrompt: 'Be brief.',
      allowQuestions: true,
    });
    expect(p.store.campaign(submitted.campaignId)).toMatchObject({ name: 'Q3 outbound', userId: USER });
    expect(p.files.keys()).toEqual([runFileKey(submitted.runId)]);
    expect(p.files.text(runFileKey(submitted.runId))).toBe(VALID);
  });

  it('takes the form fields when they come after the file', async () => {
    const p = inMemoryPipeline();
    let settle!: (submission: SubmissionDetails) => void;
    const late = new Promise<SubmissionDetails>((resolve) => (settle = resolve));
    const submitted = await service(p).submit({ userId: USER, file: upload(VALID, 16, () => settle({ campaignName: 'Late', demo: false })), fileName: 'leads.csv', details: late });
    expect(p.store.campaign(submitted.campaignId)?.name).toBe('Late');
  });

  it('adds a run to one of the user\'s campaigns, and refuses anyone else\'s, keeping nothing', async () => {
    const p = inMemoryPipeline();
    const first = await queuedRun(p, { userId: USER });
    p.outbox.clear();
    const again = await service(p).submit({ userId: USER, file: upload(VALID), fileName: 'b.csv', details: Promise.resolve({ campaignId: first.campaignId, demo: false }) });
    expect(again.campaignId).toBe(first.campaignId);

    const other = inMemoryPipeline();
    const theirs = await queuedRun(other, { userId: crypto.randomUUID() });
    other.outbox.clear();
    const refused = service(other).submit({ userId: USER, file: upload(VALID), fileName: 'c.csv', details: Promise.resolve({ campaignId: theirs.campaignId, demo: false }) });
    await expect(refused).rejects.toBeInstanceOf(CampaignNotFoundError);
    expect(other.store.counts()).toMatchObject({ campaigns: 1, runs: 1 });
    expect(other.outbox.committed()).toEqual([]);
    expect(other.files.keys()).toEqual([]);
  });

  it('records nothing and keeps no file for a file that cannot be imported', async () => {
    const p = inMemoryPipeline();
    for (const file of ['Name,Company\nAda,Analytical Engines\n', '%PDF-1.7\n\u0000\u0001binary', 'Email,Company\n']) {
      await expect(service(p).submit({ userId: USER, file: upload(file), fileName: 'x.csv', details: details() })).rejects.toBeInstanceOf(ImportError);
    }
    expectNothingKept(p);
  });

  it('records nothing and discards the stored file when the details are invalid, even after a bad file', async () => {
    const p = inMemoryPipeline();
    const invalid = new Error('campaign_name must not be blank');
    await expect(service(p).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: Promise.reject(invalid) })).rejects.toBe(invalid);
    expectNothingKept(p);
    expect(p.files.deleted).toHaveLength(1); // the valid file had been stored: it is discarded

    await expect(service(p).submit({ userId: USER, file: upload('Name\nAda\n'), fileName: 'x.csv', details: Promise.reject(invalid) })).rejects.toBe(invalid);
    expectNothingKept(p);
  });

  it('checks the campaign options before anything is recorded, and stores what the checker returns', async () => {
    const p = inMemoryPipeline();
    const checked: Record<string, string>[] = [];
    const checkOptions = (values: Readonly<Record<string, string>>) => {
      checked.push({ ...values });
      const url = values.webhook_url;
      if (url === undefined) return Promise.resolve({});
      if (!url.startsWith('https://')) return Promise.reject(new InvalidCampaignOption('webhook_url must be an https:// URL'));
      return Promise.resolve({ webhook_url: url.toLowerCase() });
    };

    const refused = service(p, { checkOptions }).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details({ options: { webhook_url: 'ftp://hooks.example' } }) });
    await expect(refused).rejects.toThrow(new InvalidCampaignOption('webhook_url must be an https:// URL'));
    expectNothingKept(p);

    const accepted = await service(p, { checkOptions }).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details({ options: { webhook_url: 'https://Hooks.example/A' } }) });
    expect(p.store.campaign(accepted.campaignId)?.options).toEqual({ webhook_url: 'https://hooks.example/a' });

    // Without options, the checker is asked about none; without a checker, any option is refused.
    const plain = await service(p, { checkOptions }).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details() });
    expect(p.store.campaign(plain.campaignId)?.options).toEqual({});
    expect(checked).toEqual([{ webhook_url: 'ftp://hooks.example' }, { webhook_url: 'https://Hooks.example/A' }, {}]);
    await expect(service(p).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details({ options: { webhook_url: 'https://a.example' } }) })).rejects.toThrow('no campaign options are declared');
  });

  it('records nothing when the file cannot be stored, and discards it when the run cannot be recorded', async () => {
    const p = inMemoryPipeline();
    p.files.fail('put', new Error('object store unavailable'));
    await expect(service(p).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details() })).rejects.toThrow('object store unavailable');
    expectNothingKept(p);

    p.files.fail('put', undefined);
    p.uow.failCommits(() => new Error('database down'));
    await expect(service(p).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details() })).rejects.toThrow('database down');
    expect(p.files.keys()).toEqual([]);
    expect(p.files.deleted).toHaveLength(1);
  });
});
