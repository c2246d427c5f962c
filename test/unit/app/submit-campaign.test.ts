/** Submission of a lead file against the in-memory doubles, with the real (pure) CSV reader. */
import { describe, expect, it } from 'vitest';
import { CsvLeadFileReader } from '../../../adapters/csv/csv-lead-file-reader.ts';
import { DEFAULT_IMPORT_LIMITS, ImportError } from '../../../domain/leads/import-error.ts';
import type { Pricing } from '../../../domain/pricing/pricing.ts';
import { NO_QUOTAS, QuotaExceededError } from '../../../domain/quotas/quota.ts';
import { CampaignNotFoundError } from '../../../ports/submission-store.port.ts';
import { IdempotencyKeyInUse, IdempotencyKeyReused, InvalidCampaignOption, type SubmissionDetails } from '../../../ports/submit-campaign.port.ts';
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
    const plain = await service(p, { checkOptions }).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details({ campaignName: 'Plain' }) });
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

  describe('quotas', () => {
    /** $1 a lead: research's request fee, tokens free. */
    const DOLLAR_A_LEAD: Pricing = {
      research: { perRequestUsd: 1, perMillionInputTokensUsd: 0, perMillionOutputTokensUsd: 0 },
      personalization: { perRequestUsd: 0, perMillionInputTokensUsd: 0, perMillionOutputTokensUsd: 0 },
    };

    it('records the valid leads and the estimate with the run (a demo counts at most 20 leads)', async () => {
      const p = inMemoryPipeline();
      const submitted = await service(p, { pricing: DOLLAR_A_LEAD }).submit({ userId: USER, file: upload(`${VALID}ada@example.com,Dup\n`), fileName: 'x.csv', details: details() });
      expect(p.store.run(submitted.runId)).toMatchObject({ submittedLeads: 2, estimatedCostUsd: '2.000000' });

      const many = ['email,company', ...Array.from({ length: 30 }, (_, i) => `u${i}@example.com,Co`)].join('\n');
      const demo = await service(p, { pricing: DOLLAR_A_LEAD }).submit({ userId: USER, file: upload(many, 256), fileName: 'x.csv', details: details({ demo: true, campaignName: 'Demo' }) });
      expect(p.store.run(demo.runId)).toMatchObject({ submittedLeads: 20, estimatedCostUsd: '20.000000' });
    });

    it('refuses a run over a limit with QuotaExceededError, recording nothing and discarding the stored file', async () => {
      const p = inMemoryPipeline();
      const quotas = { ...NO_QUOTAS, concurrentRuns: 1, spendPerDayUsd: 3 };
      const first = await service(p, { quotas, pricing: DOLLAR_A_LEAD }).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details() });
      const refused = service(p, { quotas, pricing: DOLLAR_A_LEAD }).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details() });
      await expect(refused).rejects.toBeInstanceOf(QuotaExceededError);
      await refused.catch((error: QuotaExceededError) => expect(error.exceeded).toMatchObject({ limit: 'concurrent_runs', limitValue: 1, used: 1, retryAfterSec: 30 }));
      expect(p.store.counts().runs).toBe(1);
      expect(p.files.keys()).toEqual([runFileKey(first.runId)]);
      expect(p.files.deleted).toHaveLength(1); // the refused run's file

      // Another user is not held back by this one's runs.
      const other = await service(p, { quotas, pricing: DOLLAR_A_LEAD }).submit({ userId: crypto.randomUUID(), file: upload(VALID), fileName: 'x.csv', details: details() });
      expect(p.store.run(other.runId)?.status).toBe('queued');
    });
  });

  describe('an idempotency key', () => {
    /** What the edge computes: here, the file's text (equal files, equal fingerprints). */
    const keyed = (key: string, text: string) => ({ idempotency: { key, fingerprint: Promise.resolve(`fp:${text}`) } });

    it('answers a retry with the first run, storing no file and recording no run', async () => {
      const p = inMemoryPipeline();
      const first = await service(p).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details(), ...keyed('k1', VALID) });
      expect(first.replayed).toBeUndefined();
      let read = false;
      const again = await service(p).submit({ userId: USER, file: upload(VALID, 16, () => (read = true)), fileName: 'x.csv', details: details(), ...keyed('k1', VALID) });
      expect(again).toEqual({ runId: first.runId, campaignId: first.campaignId, replayed: true });
      expect(read).toBe(true); // the upload was read to its end
      expect(p.store.counts().runs).toBe(1);
      expect(p.files.keys()).toEqual([runFileKey(first.runId)]);
      expect(p.outbox.committed()).toHaveLength(1);
    });

    it('refuses the key for another request, and while the first is in progress', async () => {
      const p = inMemoryPipeline();
      await service(p).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details(), ...keyed('k2', VALID) });
      const other = `${VALID}cid@example.com,Gamma\n`;
      await expect(service(p).submit({ userId: USER, file: upload(other), fileName: 'x.csv', details: details(), ...keyed('k2', other) })).rejects.toBeInstanceOf(IdempotencyKeyReused);

      let settle!: (submission: SubmissionDetails) => void;
      const slow = service(p).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: new Promise((resolve) => (settle = resolve)), ...keyed('k3', VALID) });
      await new Promise((resolve) => setTimeout(resolve, 10));
      await expect(service(p).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details(), ...keyed('k3', VALID) })).rejects.toBeInstanceOf(IdempotencyKeyInUse);
      settle({ campaignName: 'Slow', demo: false });
      await slow;
      expect(p.store.counts().runs).toBe(2);
    });

    it('gives the key up when the submission fails, so the fixed request may use it', async () => {
      const p = inMemoryPipeline();
      const quotas = { ...NO_QUOTAS, leadsPerRun: 1 };
      await expect(service(p, { quotas }).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details(), ...keyed('k4', VALID) })).rejects.toBeInstanceOf(QuotaExceededError);
      await expect(service(p).submit({ userId: USER, file: upload('Name\nAda\n'), fileName: 'x.csv', details: details(), ...keyed('k4', 'bad') })).rejects.toBeInstanceOf(ImportError);
      expect(p.store.idempotencyKeys()).toEqual([]);
      expectNothingKept(p);
      const fixed = await service(p).submit({ userId: USER, file: upload(VALID), fileName: 'x.csv', details: details(), ...keyed('k4', VALID) });
      expect(fixed.replayed).toBeUndefined();
      expect(p.store.idempotencyKeys()).toEqual([`${USER}:k4`]);
    });
  });
});
