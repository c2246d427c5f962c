/**
 * The research cache (migration 0016, PostgresResearchCache) on a real PostgreSQL: one live claim
 * per user, company and research prompt; a claim whose holder died lapses and is taken over; a
 * saved research is used while younger than the TTL, by the same user only; a run that asked for
 * new research ignores what was saved before it; and the lead's save and the company's commit
 * together.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ImportReport } from '../../domain/leads/lead.ts';
import type { Research } from '../../ports/providers.port.ts';
import type { CompanyResearchClaim, CompanyResearchKey } from '../../ports/research-cache.port.ts';
import { COLUMNS, lead, useTestStore } from '../support/store.ts';

const t = useTestStore();

const RESEARCH: Research = { text: 'Acme opened a plant in Lyon.', citations: [{ url: 'https://acme.example/news' }], model: 'sandbox/research', usage: { inputTokens: 40, outputTokens: 12 } };
const DAY_MS = 86_400_000;

function report(valid: number): ImportReport {
  return { total_rows: valid, valid, duplicates: 0, rejected: [], columns: COLUMNS, demo_excluded: 0 };
}

/** A personalizing run of a new campaign of `userId` with these leads, and their ids in file order. */
async function personalizingRun(userId: string, emails: readonly string[]) {
  const { runId } = await t.store.createRun({ userId, demo: false, fileName: 'leads.csv', campaignName: 'Cache' });
  const run = (await t.store.beginExtraction(runId))!;
  const stored = await t.store.storeLeads(run, emails.map((email, index) => lead(email, index + 2)));
  await t.store.finishExtraction(runId, { report: report(emails.length), columns: COLUMNS, skipped: stored.skipped });
  return { runId, leadIds: stored.pending };
}

function claimOf(key: CompanyResearchKey, leaseMs = 60_000): CompanyResearchClaim {
  return { key, owner: randomUUID(), leaseMs };
}

describe('the research cache', () => {
  const commit = <R>(change: Parameters<typeof t.stores.uow.commit<R>>[0]) => t.stores.uow.commit(change);

  it('grants one claim per company and prompt; the others wait, then take the saved research', async () => {
    const userId = randomUUID();
    const { runId, leadIds } = await personalizingRun(userId, ['a@acme.example', 'b@acme.example']);
    const key = { userId, companyKey: 'domain:acme.example', prompt: null };
    const cache = t.stores.researchCache;
    const first = claimOf(key);
    const second = claimOf(key);

    const outcomes = await Promise.all([commit(cache.claim(first, { runId, ttlMs: DAY_MS })), commit(cache.claim(second, { runId, ttlMs: DAY_MS }))]);
    expect(outcomes.filter((outcome) => outcome.kind === 'claimed')).toHaveLength(1);
    const waiting = outcomes.find((outcome) => outcome.kind === 'held');
    expect(waiting).toMatchObject({ kind: 'held' });
    expect(waiting?.kind === 'held' && waiting.expiresInMs).toBeGreaterThan(50_000);
    const holder = outcomes[0].kind === 'claimed' ? first : second;

    expect(await commit(cache.renew(holder))).toBe(true);
    expect(await commit(cache.saveResearch({ leadId: leadIds[0]!, runId }, RESEARCH, '0.009600', holder))).toBe(true);
    const [row] = await t.db.sql`select owner, claim_expires_at, research, cost_usd::text as cost from research_cache where user_id = ${userId}`;
    expect(row).toEqual({ owner: null, claim_expires_at: null, research: RESEARCH.text, cost: '0.009600' });

    // The waiter comes back: the research is there, and using it costs the lead nothing.
    const found = await commit(cache.claim(claimOf(key), { runId, ttlMs: DAY_MS }));
    expect(found).toEqual({ kind: 'cached', research: RESEARCH });
    expect(await commit(cache.useCached({ leadId: leadIds[1]!, runId }, RESEARCH))).toBe(true);
    expect(await commit(cache.useCached({ leadId: leadIds[1]!, runId }, RESEARCH))).toBe(false);
    const leads = await t.db.sql`select status, research, research_cached, cost_usd::text as cost, attempts from leads where run_id = ${runId} order by row_number`;
    expect(leads).toEqual([
      { status: 'researched', research: RESEARCH.text, research_cached: false, cost: '0.009600', attempts: 1 },
      { status: 'researched', research: RESEARCH.text, research_cached: true, cost: '0.000000', attempts: 0 },
    ]);
  });

  it('lets a claim whose holder died lapse, and a waiter take it over; a released claim is free at once', async () => {
    const userId = randomUUID();
    const { runId } = await personalizingRun(userId, ['c@lapse.example']);
    const key = { userId, companyKey: 'name:lapse', prompt: 'Hiring news.' };
    const cache = t.stores.researchCache;
    const dead = claimOf(key, 300);
    expect(await commit(cache.claim(dead, { runId, ttlMs: DAY_MS }))).toEqual({ kind: 'claimed' });
    const waiter = claimOf(key);
    expect(await commit(cache.claim(waiter, { runId, ttlMs: DAY_MS }))).toMatchObject({ kind: 'held' });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await commit(cache.claim(waiter, { runId, ttlMs: DAY_MS }))).toEqual({ kind: 'claimed' });
    // The dead holder can neither renew nor release what is no longer its own.
    expect(await commit(cache.renew(dead))).toBe(false);
    await commit(cache.release(dead));
    expect(await commit(cache.claim(claimOf(key), { runId, ttlMs: DAY_MS }))).toMatchObject({ kind: 'held' });
    await commit(cache.release(waiter));
    expect(await commit(cache.claim(claimOf(key), { runId, ttlMs: DAY_MS }))).toEqual({ kind: 'claimed' });
  });

  it("keys by user and prompt, and uses research only while younger than the TTL, or than the run that asked for new research", async () => {
    const userId = randomUUID();
    const { runId, leadIds } = await personalizingRun(userId, ['d@ttl.example']);
    const key = { userId, companyKey: 'domain:ttl.example', prompt: null };
    const cache = t.stores.researchCache;
    const holder = claimOf(key);
    await commit(cache.claim(holder, { runId, ttlMs: DAY_MS }));
    await commit(cache.saveResearch({ leadId: leadIds[0]!, runId }, RESEARCH, '0.009600', holder));

    expect(await commit(cache.claim(claimOf(key), { runId, ttlMs: DAY_MS }))).toMatchObject({ kind: 'cached' });
    // Another user, another prompt: nothing to share.
    const strangerId = randomUUID();
    const stranger = await personalizingRun(strangerId, ['e@ttl.example']);
    expect(await commit(cache.claim(claimOf({ ...key, userId: strangerId }), { runId: stranger.runId, ttlMs: DAY_MS }))).toEqual({ kind: 'claimed' });
    expect(await commit(cache.claim(claimOf({ ...key, prompt: 'Funding news.' }), { runId, ttlMs: DAY_MS }))).toEqual({ kind: 'claimed' });

    // Older than the TTL: researched again.
    await t.db.sql`update research_cache set researched_at = now() - interval '2 days' where user_id = ${userId} and company_key = ${key.companyKey} and prompt_hash = encode(sha256(''::bytea), 'hex')`;
    expect(await commit(cache.claim(claimOf(key), { runId, ttlMs: DAY_MS }))).toEqual({ kind: 'claimed' });
  });

  it('gives a run that asked for new research only what was saved after it was created', async () => {
    const userId = randomUUID();
    const { runId, leadIds } = await personalizingRun(userId, ['f@fresh.example']);
    const key = { userId, companyKey: 'domain:fresh.example', prompt: null };
    const cache = t.stores.researchCache;
    const holder = claimOf(key);
    await commit(cache.claim(holder, { runId, ttlMs: DAY_MS }));
    await commit(cache.saveResearch({ leadId: leadIds[0]!, runId }, RESEARCH, '0.009600', holder));
    await t.db.sql`update campaign_runs set research_refresh = true, created_at = now() + interval '1 second' where id = ${runId}`;
    expect(await commit(cache.claim(claimOf(key), { runId, ttlMs: DAY_MS }))).toEqual({ kind: 'claimed' });
  });
});
