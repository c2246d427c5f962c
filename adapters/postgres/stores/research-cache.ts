/**
 * Research once per company (ports/research-cache.port.ts) on the `research_cache` table
 * (migration 0016): a row per user, company key and research prompt's hash, holding the company's
 * research once saved and, while it is being made, the lease of the delivery making it. Every
 * statement runs in the shared statement lane (group commit), like the lead's own claims.
 */
import { createHash } from 'node:crypto';
import type { UsdAmount } from '../../../domain/pricing/pricing.ts';
import type { Citation, Research, Usage } from '../../../ports/providers.port.ts';
import type { CompanyResearchClaim, CompanyResearchOutcome, ResearchCache } from '../../../ports/research-cache.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import type { Lanes } from '../changes.ts';
import { toJson } from '../sql.ts';
import { saveResearchStatement } from './lead-work-store.ts';

/** Entries older than the TTL deleted per claim: the table keeps about a TTL of research without a job of its own. */
const SWEEP_BATCH = 20;

interface EntryRow {
  research: string | null;
  citations: Citation[] | null;
  model: string | null;
  usage: Usage | null;
  usable: boolean;
  expires_in_ms: number | null;
}

/** The research prompt's hash: the key holds no prompt text, and any length of prompt fits it. */
function promptHash(prompt: string | null): string {
  return createHash('sha256').update(prompt ?? '', 'utf8').digest('hex');
}

export class PostgresResearchCache implements ResearchCache {
  readonly #lanes: Lanes;

  constructor(lanes: Lanes) {
    this.#lanes = lanes;
  }

  /**
   * Three statements in the lane's transaction: the run's freshness bound (a run that asked for new
   * research uses only research saved after it was created); then one upsert that claims the call
   * unless young enough research exists or another owner's claim is live (two deliveries of one
   * company serialise on its row: the second sees the first's claim); then, when not granted, the
   * entry as it is. Times are the database's clock, so processes whose clocks differ agree.
   */
  claim(claim: CompanyResearchClaim, context: { readonly runId: string; readonly ttlMs: number }): Change<CompanyResearchOutcome> {
    const { key, owner, leaseMs } = claim;
    const hash = promptHash(key.prompt);
    return this.#lanes.statement('claimCompanyResearch', { run_id: context.runId }, async (tx): Promise<CompanyResearchOutcome> => {
      const ttl = tx`${context.ttlMs} * interval '1 millisecond'`;
      await tx`
        delete from research_cache where ctid = any(array(
          select ctid from research_cache
          where researched_at < clock_timestamp() - ${ttl} and owner is null
          limit ${SWEEP_BATCH} for update skip locked))`;
      const [run] = await tx<{ fresh_after: string | null }[]>`
        select case when research_refresh then created_at::text end as fresh_after from campaign_runs where id = ${context.runId}`;
      const freshAfter = run?.fresh_after ?? '-infinity';
      const usable = (table: string) =>
        tx`(${tx(table)}.research is not null and ${tx(table)}.researched_at > clock_timestamp() - ${ttl}
            and ${tx(table)}.researched_at >= ${freshAfter}::text::timestamptz)`;
      const [claimed] = await tx<{ owner: string }[]>`
        insert into research_cache as c (user_id, company_key, prompt_hash, owner, claim_expires_at)
        values (${key.userId}, ${key.companyKey}, ${hash}, ${owner}, clock_timestamp() + ${leaseMs} * interval '1 millisecond')
        on conflict (user_id, company_key, prompt_hash) do update set
          owner = excluded.owner,
          claim_expires_at = excluded.claim_expires_at
        where (c.owner is null or c.claim_expires_at <= clock_timestamp()) and not ${usable('c')}
        returning c.owner`;
      if (claimed !== undefined) return { kind: 'claimed' };
      const [entry] = await tx<EntryRow[]>`
        select e.research, e.citations, e.model, e.usage, ${usable('e')} as usable,
               greatest(0, ceil(extract(epoch from e.claim_expires_at - clock_timestamp()) * 1000))::float8 as expires_in_ms
        from research_cache e
        where e.user_id = ${key.userId} and e.company_key = ${key.companyKey} and e.prompt_hash = ${hash}`;
      if (entry?.usable === true && entry.research !== null) {
        return {
          kind: 'cached',
          research: {
            text: entry.research,
            citations: entry.citations ?? [],
            model: entry.model ?? '',
            ...(entry.usage === null ? {} : { usage: entry.usage }),
          },
        };
      }
      // Released between the two statements: the caller asks again at once.
      return { kind: 'held', expiresInMs: entry?.expires_in_ms ?? 0 };
    });
  }

  renew(claim: CompanyResearchClaim): Change<boolean> {
    const { key, owner, leaseMs } = claim;
    return this.#lanes.statement('renewCompanyResearch', {}, async (tx) => {
      const { count } = await tx`
        update research_cache set claim_expires_at = clock_timestamp() + ${leaseMs} * interval '1 millisecond'
        where user_id = ${key.userId} and company_key = ${key.companyKey} and prompt_hash = ${promptHash(key.prompt)} and owner = ${owner}`;
      return count > 0;
    });
  }

  release(claim: Omit<CompanyResearchClaim, 'leaseMs'>): Change<void> {
    const { key, owner } = claim;
    return this.#lanes.statement('releaseCompanyResearch', {}, async (tx) => {
      await tx`
        update research_cache set owner = null, claim_expires_at = null
        where user_id = ${key.userId} and company_key = ${key.companyKey} and prompt_hash = ${promptHash(key.prompt)} and owner = ${owner}`;
    });
  }

  /**
   * The lead's save and the company's entry in one transaction: a crash leaves either both or
   * neither. The entry is written even when the lead had moved on: the research was paid for, and
   * is as good for the company's other leads. Another owner's live claim (this one's had lapsed and
   * was taken over) is left to it.
   */
  saveResearch(lead: { readonly leadId: string; readonly runId: string }, research: Research, costUsd: UsdAmount, claim: Omit<CompanyResearchClaim, 'leaseMs'>): Change<boolean> {
    const { key, owner } = claim;
    return this.#lanes.statement('saveCompanyResearch', { run_id: lead.runId, lead_id: lead.leadId }, async (tx) => {
      const moved = await saveResearchStatement(tx, lead.leadId, lead.runId, research, costUsd);
      await tx`
        insert into research_cache as c (user_id, company_key, prompt_hash, research, citations, model, usage, cost_usd, researched_at)
        values (${key.userId}, ${key.companyKey}, ${promptHash(key.prompt)}, ${research.text}, ${tx.json(toJson(research.citations))},
                ${research.model}, ${research.usage === undefined ? null : tx.json(toJson(research.usage))}, ${costUsd}::numeric, clock_timestamp())
        on conflict (user_id, company_key, prompt_hash) do update set
          research = excluded.research,
          citations = excluded.citations,
          model = excluded.model,
          usage = excluded.usage,
          cost_usd = excluded.cost_usd,
          researched_at = excluded.researched_at,
          owner = case when c.owner = ${owner} then null else c.owner end,
          claim_expires_at = case when c.owner = ${owner} then null else c.claim_expires_at end`;
      return moved;
    });
  }

  /** No call, no cost, no attempt: the lead takes the company's research as it is. */
  useCached(lead: { readonly leadId: string; readonly runId: string }, research: Research): Change<boolean> {
    return this.#lanes.statement('useCachedResearch', { run_id: lead.runId, lead_id: lead.leadId }, async (tx) => {
      const { count } = await tx`
        update leads set
          status = 'researched',
          research = ${research.text},
          citations = ${tx.json(toJson(research.citations))},
          research_model = ${research.model},
          research_cached = true
        where id = ${lead.leadId} and run_id = ${lead.runId} and status = 'pending'`;
      return count > 0;
    });
  }
}

