/**
 * Test double (never used in production code): the campaign database in memory, implementing the
 * store ports the use cases write through (`SubmissionStore`, `ExtractionStore`, `LeadWorkStore`,
 * `ProjectionStore`, `ReconcilerStore`) with the observable semantics of the PostgreSQL adapters
 * in adapters/postgres/stores/:
 *
 * - every write is a `FakeChange` that only `FakeUnitOfWork` commits, all or nothing;
 * - lead transitions are guarded by the lead's run and status (pending → researched →
 *   personalized | needs_review, any non-final → failed); a refused `saveResearch`/`saveDraft`
 *   still adds the call's cost to a lead of that run, and to its run when the lead is counted;
 * - campaign names are unique per user (`campaignNameKey`): a new campaign of a name the user has
 *   fails with `CampaignNameTakenError`; a run takes the campaign's settings (prompts,
 *   allow_questions) where its submission gives none, and a value it gives becomes the campaign's;
 * - leads are unique by campaign and email; `storeLeads` skips a lead personalized by an earlier
 *   run, takes any other over (reset to pending), and keeps the progress of one the run owns;
 * - `storeLeads` reports as pending only the leads it released (stored new, or taken over): a lead
 *   the run had stored already is not announced again;
 * - `countOutcome` counts a final lead once per run (run counters and cost, the campaign's count
 *   and the owner's KPIs for a personalized lead), never for a run that has ended;
 *   `completeIfSettled` ends a `personalizing` run with no uncounted lead with `outcomeOf`, and
 *   hands the completion to one caller only; `failRun` fails the run's unsettled leads with
 *   RUN_ENDED_REASON;
 * - `storeLeads` stores the leads it is told are suppressed `suppressed` (settled, counted for the
 *   run, not released); `saveSuppressed` suppresses a pending or researched lead of a live run and adds it to the
 *   run's `suppressed`; `finishExtraction` sets `suppressed` to the run's suppressed leads; the
 *   suppression list (`addSuppression`) and other campaigns' personalized leads answer `screen` and
 *   `listedFor` as the PostgreSQL look-ups do;
 * - a paid call is claimed per lead, run and stage (`claimCall`): a lease with an owner and an
 *   expiry on the injected clock, a count of calls started, released by the stage's save;
 * - every row has an `updatedAt` stamped from the injected clock whenever a write touches it (the
 *   PostgreSQL trigger), and the reconciler's queries compare it with the lease on that clock, and
 *   look at the in-memory outbox for events of the run still waiting.
 *
 * Rows are read back with `run()`, `lead()`, `leadsOfRun()`, `campaign()` and `metrics()` (copies:
 * a test cannot change the state behind the store's back). Group commit, locks and deadlocks have
 * no counterpart here: a change applies in one step.
 */
import { randomUUID } from 'node:crypto';
import {
  CANCELLED_OUTCOME,
  COUNTING_RUN_STATUSES,
  FINAL_LEAD_STATUSES,
  hasEnded,
  outcomeOf,
  PROCESSED_LEAD_STATUSES,
  RUN_CANCELLED_REASON,
  RUN_ENDED_REASON,
  UNENDED_RUN_STATUSES,
  type KpiRates,
  type LeadStatus,
  type RunStatus,
} from '../../../domain/campaigns/run.ts';
import type { SuppressionKind } from '../../../domain/suppression/suppression.ts';
import type { LeadScreen, LeadScreening, LeadToScreen } from '../../../ports/suppression-store.port.ts';
import type { CanonicalValues, ColumnMapping, ImportReport, ImportRow, Lead, OriginalField } from '../../../domain/leads/lead.ts';
import type { UsdAmount } from '../../../domain/pricing/pricing.ts';
import type { OutputSpec } from '../../../domain/personalization/outputs.ts';
import type { ExtractionResult, ExtractionStore, RunToExtract, StoredLeads } from '../../../ports/extraction-store.port.ts';
import type { CallClaim, ClaimOutcome, LeadWork, LeadWorkStore, PaidCall, PaidStage } from '../../../ports/lead-work-store.port.ts';
import type { ProjectionStore, RunCompletion } from '../../../ports/projection-store.port.ts';
import type { DeliveryLog } from '../../../ports/delivery-log.port.ts';
import type { Citation, Draft, DraftFeedback, Research, Usage } from '../../../ports/providers.port.ts';
import type { ReconcilerStore, Staleness, StuckLead } from '../../../ports/reconciler-store.port.ts';
import type { CompletedRun, RunReader } from '../../../ports/run-reader.port.ts';
import { QuotaExceededError, quotaVerdict, QUOTA_WINDOW_MS } from '../../../domain/quotas/quota.ts';
import { campaignNameKey } from '../../../domain/campaigns/campaign.ts';
import { CampaignNameTakenError } from '../../../ports/campaign-store.port.ts';
import {
  CampaignNotFoundError,
  IdempotencyKeyLostError,
  type CreatedRun,
  type IdempotencyClaim,
  type NewRun,
  type SubmissionStore,
} from '../../../ports/submission-store.port.ts';
import type { Change } from '../../../ports/unit-of-work.port.ts';
import { FakeClock, type Clock } from './clock.ts';
import { fakeChange } from './unit-of-work.ts';
import { InMemoryOutbox } from './outbox.ts';

export interface CampaignRecord {
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  readonly options: Readonly<Record<string, string>>;
  /** The settings of the campaign's next runs (a submission that gives one sets it). */
  readonly researchPrompt: string | null;
  readonly personalizationPrompt: string | null;
  readonly allowQuestions: boolean;
  /** Personalized leads counted for the campaign. */
  readonly completedCount: number;
  readonly updatedAt: number;
}

export interface RunRecord {
  readonly id: string;
  readonly campaignId: string;
  readonly userId: string;
  readonly status: RunStatus;
  readonly demo: boolean;
  readonly fileName: string;
  readonly fileRef: string;
  readonly researchPrompt: string | null;
  readonly personalizationPrompt: string | null;
  readonly allowQuestions: boolean;
  /** The custom outputs the run asks for. */
  readonly outputs: readonly OutputSpec[];
  readonly totalRows: number;
  readonly valid: number;
  readonly duplicates: number;
  readonly rejectedRows: number;
  readonly skipped: number;
  readonly processed: number;
  readonly personalized: number;
  readonly needsReview: number;
  readonly failed: number;
  readonly suppressed: number;
  /** Leads its cancel left unsettled, counted as such. */
  readonly cancelled: number;
  readonly costUsd: UsdAmount;
  /** What the run counted against the daily quotas when it was submitted. */
  readonly submittedLeads: number;
  readonly estimatedCostUsd: UsdAmount;
  readonly errorMessage: string | null;
  readonly importReport: ImportReport | null;
  readonly columns: readonly ColumnMapping[] | null;
  /** The file's rows that are not leads, for the export (null until extraction finished, or when not kept). */
  readonly importRows: readonly ImportRow[] | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly completedAt: number | null;
  readonly cancelledAt: number | null;
  readonly pausedAt: number | null;
}

export interface LeadRecord {
  readonly id: string;
  readonly campaignId: string;
  /** The run that owns the lead now (a later run of the campaign may take it over). */
  readonly runId: string;
  readonly userId: string;
  readonly row: number;
  readonly email: string;
  readonly company: string;
  readonly canonical: CanonicalValues;
  readonly fields: readonly OriginalField[];
  readonly status: LeadStatus;
  readonly research: string | null;
  readonly citations: readonly Citation[] | null;
  readonly researchModel: string | null;
  readonly researchUsage: Usage | null;
  readonly message: string | null;
  readonly messageBasis: string | null;
  /** The custom outputs written with the message, by name. */
  readonly outputs: Readonly<Record<string, string>> | null;
  readonly model: string | null;
  readonly error: string | null;
  readonly attempts: number;
  readonly costUsd: UsdAmount;
  /** Every paid call recorded with the lead, in order. */
  readonly calls: readonly PaidCall[];
  readonly updatedAt: number;
  readonly settledAt: number | null;
  /** The run that counted the lead's outcome; null while uncounted. */
  readonly countedRunId: string | null;
}

/** A lead's claim on the call of one stage, for one run. */
export interface ClaimRecord {
  readonly leadId: string;
  readonly runId: string;
  readonly stage: PaidStage;
  /** Null once released. */
  readonly owner: string | null;
  /** Epoch milliseconds on the store's clock; null once released. */
  readonly expiresAt: number | null;
  readonly callsStarted: number;
  /** Personalization: a first draft that failed the gates, with why (keepRejectedDraft). */
  readonly rejectedDraft?: DraftFeedback | null;
}

export interface MetricsRecord {
  readonly userId: string;
  readonly leadsPersonalized: number;
  /** Exact decimals with 2 places, as numeric(14,2) keeps them. */
  readonly hoursSaved: string;
  readonly moneySaved: string;
  readonly updatedAt: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface CampaignRow extends Mutable<Omit<CampaignRecord, 'options'>> {
  options: Record<string, string>;
}

interface RunRow extends Mutable<Omit<RunRecord, 'costUsd'>> {
  costMicros: number;
}

/** An idempotency key, as idempotency_keys keeps it. */
interface KeyRow {
  claim: string;
  fingerprint: string | null;
  runId: string | null;
  campaignId: string | null;
  createdAt: number;
  /** The holder's last renewal. */
  aliveAt: number;
}

interface LeadRow extends Mutable<Omit<LeadRecord, 'costUsd' | 'calls'>> {
  costMicros: number;
  calls: PaidCall[];
}

interface MetricsRow {
  userId: string;
  leadsPersonalized: number;
  hoursCents: number;
  moneyCents: number;
  updatedAt: number;
}

/** The state every change works on; replaced whole by a snapshot when a change rolls back. */
interface DeliveryRow {
  runId: string;
  userId: string;
  consumer: string;
  attempts: number;
  lastError: string | null;
  deliveredAt: number | null;
  failedAt: number | null;
}

interface Tables {
  /** By run id and consumer. */
  deliveries: Map<string, DeliveryRow>;
  campaigns: Map<string, CampaignRow>;
  runs: Map<string, RunRow>;
  leads: Map<string, LeadRow>;
  /** Lead id by campaign and email: the unique index. */
  leadByEmail: Map<string, string>;
  metrics: Map<string, MetricsRow>;
  /** By lead, run and stage. */
  claims: Map<string, Mutable<ClaimRecord>>;
  /** By user id and key. */
  keys: Map<string, KeyRow>;
  /** By user id and value. */
  suppressions: Map<string, { userId: string; value: string; kind: SuppressionKind }>;
}

/** Where a lead's stage starts: the status a claim on its call requires. */
const STAGE_STARTS: Readonly<Record<PaidStage, LeadStatus>> = { research: 'pending', personalization: 'researched' };

/** As the PostgreSQL store: keys kept 24 hours, a claim abandoned after 15 minutes. */
const KEY_TTL_MS = QUOTA_WINDOW_MS;
const ABANDONED_CLAIM_MS = 30 * 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface InMemoryCampaignStoreOptions {
  /** Stamps `updatedAt` and drives the reconciler's leases (default: a fake clock of its own). */
  readonly clock?: Clock;
  /** Where the reconciler's queries look for events still waiting (share the unit of work's). */
  readonly outbox?: InMemoryOutbox;
}

export class InMemoryCampaignStore
  implements SubmissionStore, ExtractionStore, LeadWorkStore, ProjectionStore, ReconcilerStore, RunReader, LeadScreen
{
  readonly #clock: Clock;
  readonly #outbox: InMemoryOutbox;
  #tables: Tables = {
    deliveries: new Map(),
    campaigns: new Map(),
    runs: new Map(),
    leads: new Map(),
    leadByEmail: new Map(),
    metrics: new Map(),
    claims: new Map(),
    keys: new Map(),
    suppressions: new Map(),
  };

  constructor(options: InMemoryCampaignStoreOptions = {}) {
    this.#clock = options.clock ?? new FakeClock();
    this.#outbox = options.outbox ?? new InMemoryOutbox(this.#clock);
  }

  // ── Reading the rows back (tests only) ──────────────────────────────────────────────────────

  run(runId: string): RunRecord | undefined {
    const row = this.#tables.runs.get(runId);
    if (row === undefined) return undefined;
    const { costMicros, ...rest } = structuredClone(row);
    return { ...rest, costUsd: formatMicros(costMicros) };
  }

  lead(leadId: string): LeadRecord | undefined {
    const row = this.#tables.leads.get(leadId);
    if (row === undefined) return undefined;
    const { costMicros, ...rest } = structuredClone(row);
    return { ...rest, costUsd: formatMicros(costMicros) };
  }

  /** The leads the run owns now, in file order. */
  leadsOfRun(runId: string): LeadRecord[] {
    return [...this.#tables.leads.values()]
      .filter((lead) => lead.runId === runId)
      .sort((a, b) => a.row - b.row)
      .map((lead) => this.lead(lead.id)!);
  }

  /** The campaign's lead with this (normalized) email. */
  leadByEmail(campaignId: string, email: string): LeadRecord | undefined {
    const id = this.#tables.leadByEmail.get(emailKey(campaignId, email));
    return id === undefined ? undefined : this.lead(id);
  }

  campaign(campaignId: string): CampaignRecord | undefined {
    const row = this.#tables.campaigns.get(campaignId);
    return row === undefined ? undefined : structuredClone(row);
  }

  /** The lead's claim on the stage's call for that run; undefined when none was ever made. */
  claim(leadId: string, runId: string, stage: PaidStage): ClaimRecord | undefined {
    const row = this.#tables.claims.get(claimKey(leadId, runId, stage));
    return row === undefined ? undefined : { ...row };
  }

  /**
   * Sets a run's status behind its leads' backs (tests only): a run stopped by a path with no
   * change of its own here (its owner's cancel or pause are the PostgreSQL store's), whose
   * unsettled leads are left as they are. Only a completed or failed run gets a `completedAt`: a
   * cancelled one ends once its leads are all counted, and a paused (or resumed) one has not ended.
   */
  endRun(runId: string, status: RunStatus): void {
    const run = this.#tables.runs.get(runId);
    if (run === undefined) throw new Error(`no run ${runId}`);
    const now = this.#clock.now();
    const ended = status === 'completed' || status === 'failed';
    Object.assign(run, {
      status,
      completedAt: ended ? now : null,
      ...(status === 'cancelled' ? { cancelledAt: now } : {}),
      ...(status === 'paused' ? { pausedAt: now } : {}),
      updatedAt: now,
    });
  }

  /** Every campaign and run recorded, for "nothing was recorded" assertions. */
  counts(): { campaigns: number; runs: number; leads: number } {
    return { campaigns: this.#tables.campaigns.size, runs: this.#tables.runs.size, leads: this.#tables.leads.size };
  }

  /** The user's KPIs; zeros when nothing was counted for them. */
  metrics(userId: string): MetricsRecord {
    const row = this.#tables.metrics.get(userId);
    return {
      userId,
      leadsPersonalized: row?.leadsPersonalized ?? 0,
      hoursSaved: formatCents(row?.hoursCents ?? 0),
      moneySaved: formatCents(row?.moneyCents ?? 0),
      updatedAt: row?.updatedAt ?? 0,
    };
  }

  // ── SubmissionStore ─────────────────────────────────────────────────────────────────────────

  createRun(run: NewRun): Change<CreatedRun> {
    return this.#change('createRun', (t) => {
      const now = this.#clock.now();
      const runId = run.runId ?? randomUUID();
      if (t.runs.has(runId)) throw new Error(`duplicate run id ${runId}`);
      if (run.quotas !== undefined) {
        const mine = [...t.runs.values()].filter((row) => row.userId === run.userId);
        const exceeded = quotaVerdict(
          run.quotas,
          {
            activeRuns: mine.filter((row) => UNENDED_RUN_STATUSES.includes(row.status)).length,
            recentRuns: mine.map((row) => ({ submittedAt: row.createdAt, leads: row.submittedLeads, estimatedCostUsd: row.estimatedCostUsd })),
            now,
          },
          { leads: run.leads ?? 0, estimatedCostUsd: run.estimatedCostUsd ?? '0' },
        );
        if (exceeded !== null) throw new QuotaExceededError(exceeded);
      }
      const options = run.options ?? {};
      let campaign: CampaignRow;
      if (run.campaignId !== undefined) {
        const found = t.campaigns.get(run.campaignId);
        if (!UUID.test(run.campaignId) || found === undefined || found.userId !== run.userId) throw new CampaignNotFoundError();
        campaign = found;
        campaign.options = { ...campaign.options, ...options };
        campaign.researchPrompt = run.researchPrompt ?? campaign.researchPrompt;
        campaign.personalizationPrompt = run.personalizationPrompt ?? campaign.personalizationPrompt;
        campaign.allowQuestions = run.allowQuestions ?? campaign.allowQuestions;
        campaign.updatedAt = now;
      } else if (run.campaignName !== undefined) {
        const name = run.campaignName;
        const holder = [...t.campaigns.values()].find((row) => row.userId === run.userId && campaignNameKey(row.name) === campaignNameKey(name));
        if (holder !== undefined) throw new CampaignNameTakenError(holder.id);
        campaign = {
          id: randomUUID(),
          userId: run.userId,
          name,
          options: { ...options },
          researchPrompt: run.researchPrompt ?? null,
          personalizationPrompt: run.personalizationPrompt ?? null,
          allowQuestions: run.allowQuestions ?? false,
          completedCount: 0,
          updatedAt: now,
        };
        t.campaigns.set(campaign.id, campaign);
      } else {
        throw new TypeError('createRun needs a campaignId or a campaignName');
      }
      const campaignId = campaign.id;
      t.runs.set(runId, {
        id: runId,
        campaignId,
        userId: run.userId,
        status: 'queued',
        demo: run.demo,
        fileName: run.fileName,
        fileRef: `runs/${runId}`,
        researchPrompt: campaign.researchPrompt,
        personalizationPrompt: campaign.personalizationPrompt,
        allowQuestions: campaign.allowQuestions,
        outputs: structuredClone(run.outputs ?? []),
        totalRows: 0,
        valid: 0,
        duplicates: 0,
        rejectedRows: 0,
        skipped: 0,
        processed: 0,
        personalized: 0,
        needsReview: 0,
        failed: 0,
        suppressed: 0,
        cancelled: 0,
        costMicros: 0,
        errorMessage: null,
        importReport: null,
        columns: null,
        importRows: null,
        createdAt: now,
        updatedAt: now,
        completedAt: null,
        cancelledAt: null,
        pausedAt: null,
        submittedLeads: run.leads ?? 0,
        estimatedCostUsd: run.estimatedCostUsd ?? '0.000000',
      });
      if (run.idempotency !== undefined) {
        const row = t.keys.get(keyOf(run.userId, run.idempotency.key));
        if (row === undefined || row.claim !== run.idempotency.claim || row.runId !== null) throw new IdempotencyKeyLostError();
        Object.assign(row, { fingerprint: run.idempotency.fingerprint, runId, campaignId });
      }
      return { runId, campaignId, userId: run.userId };
    });
  }

  claimIdempotencyKey(userId: string, key: string): Change<IdempotencyClaim> {
    return this.#change('claimIdempotencyKey', (t): IdempotencyClaim => {
      const now = this.#clock.now();
      const row = t.keys.get(keyOf(userId, key));
      const free =
        row === undefined || row.createdAt + KEY_TTL_MS <= now || (row.runId === null && row.aliveAt + ABANDONED_CLAIM_MS < now);
      if (free) {
        const claim = randomUUID();
        t.keys.set(keyOf(userId, key), { claim, fingerprint: null, runId: null, campaignId: null, createdAt: now, aliveAt: now });
        return { state: 'claimed', claim };
      }
      if (row.runId === null || row.campaignId === null || row.fingerprint === null) return { state: 'in_progress' };
      return { state: 'completed', fingerprint: row.fingerprint, runId: row.runId, campaignId: row.campaignId };
    });
  }

  renewIdempotencyKey(userId: string, key: string, claim: string): Change<boolean> {
    return this.#change('renewIdempotencyKey', (t) => {
      const row = t.keys.get(keyOf(userId, key));
      if (row === undefined || row.claim !== claim || row.runId !== null) return false;
      row.aliveAt = this.#clock.now();
      return true;
    });
  }

  releaseIdempotencyKey(userId: string, key: string, claim: string): Change<void> {
    return this.#change('releaseIdempotencyKey', (t) => {
      const row = t.keys.get(keyOf(userId, key));
      if (row !== undefined && row.claim === claim && row.runId === null) t.keys.delete(keyOf(userId, key));
    });
  }

  /** The idempotency keys held (tests only): `<user>:<key>`. */
  idempotencyKeys(): string[] {
    return [...this.#tables.keys.keys()];
  }

  // ── ExtractionStore ─────────────────────────────────────────────────────────────────────────

  beginExtraction(runId: string): Change<RunToExtract | null> {
    return this.#change('beginExtraction', (t) => {
      const run = t.runs.get(runId);
      const readingWhilePaused = run?.status === 'paused' && run.importReport === null;
      if (run === undefined || (run.status !== 'queued' && run.status !== 'extracting' && !readingWhilePaused)) return null;
      if (!readingWhilePaused) run.status = 'extracting';
      run.updatedAt = this.#clock.now();
      return toRunToExtract(run, t.campaigns.get(run.campaignId));
    });
  }

  storeLeads(run: RunToExtract, leads: readonly Lead[], suppressed: ReadonlyMap<string, string> = new Map()): Change<StoredLeads> {
    return this.#change('storeLeads', (t) => {
      const emails = new Set(leads.map((lead) => lead.email));
      if (emails.size !== leads.length) throw new Error('storeLeads: a batch repeats an email; the import must de-duplicate leads first');
      const state = t.runs.get(run.runId);
      if (state === undefined || hasEnded(state.status)) return { pending: [], skipped: 0, stopped: true };
      if (leads.length === 0) return { pending: [], skipped: 0, stopped: false };
      const now = this.#clock.now();
      const returned: LeadRow[] = [];
      const released = new Set<string>();
      for (const lead of leads) {
        const key = emailKey(run.campaignId, lead.email);
        const existingId = t.leadByEmail.get(key);
        const existing = existingId === undefined ? undefined : t.leads.get(existingId);
        const start = startOf(run.runId, suppressed.get(lead.email), now);
        if (existing === undefined) {
          const row = { ...newLead(run, lead, now), ...start };
          t.leads.set(row.id, row);
          t.leadByEmail.set(key, row.id);
          returned.push(row);
          released.add(row.id);
          continue;
        }
        const ownedByThisRun = existing.runId === run.runId;
        // A lead personalized by an earlier run is left alone: skipped.
        if (existing.status === 'personalized' && !ownedByThisRun) continue;
        Object.assign(existing, { row: lead.row, company: lead.company, canonical: { ...lead.canonical }, fields: lead.fields.map((field) => ({ ...field })), updatedAt: now });
        // Taken over from an earlier run: its progress starts again; a redelivery keeps this run's.
        if (!ownedByThisRun) {
          Object.assign(existing, resetProgress(run.runId), start);
          released.add(existing.id);
        }
        returned.push(existing);
      }
      const runRow = t.runs.get(run.runId);
      if (runRow?.status === 'extracting') runRow.updatedAt = now;
      return {
        pending: returned
          .filter((row) => released.has(row.id) && row.status === 'pending')
          .sort((a, b) => a.row - b.row)
          .map((row) => row.id),
        skipped: leads.length - returned.length,
        stopped: false,
      };
    });
  }

  finishExtraction(runId: string, result: ExtractionResult): Change<void> {
    return this.#change('finishExtraction', (t) => {
      const run = t.runs.get(runId);
      if (run === undefined || (run.status !== 'extracting' && run.status !== 'personalizing' && run.status !== 'paused')) return;
      const { report } = result;
      Object.assign(run, {
        totalRows: report.total_rows,
        valid: report.valid,
        duplicates: report.duplicates,
        rejectedRows: report.rejected.length,
        skipped: result.skipped,
        suppressed: [...t.leads.values()].filter((lead) => lead.runId === runId && lead.status === 'suppressed').length,
        importReport: structuredClone(report),
        columns: structuredClone(result.columns),
        importRows: result.rows === undefined ? null : structuredClone(result.rows),
        status: run.status === 'paused' ? 'paused' : 'personalizing',
        updatedAt: this.#clock.now(),
      });
    });
  }

  failRun(runId: string, errorMessage: string): Change<RunCompletion | null> {
    return this.#change('failRun', (t) => {
      const run = t.runs.get(runId);
      if (run === undefined || !UNENDED_RUN_STATUSES.includes(run.status)) return null;
      const now = this.#clock.now();
      for (const lead of t.leads.values()) {
        if (lead.runId !== runId || FINAL_LEAD_STATUSES.includes(lead.status)) continue;
        Object.assign(lead, { status: 'failed', error: RUN_ENDED_REASON, settledAt: now, updatedAt: now });
      }
      Object.assign(run, { status: 'failed', errorMessage, completedAt: now, pausedAt: null, updatedAt: now });
      return { runId, campaignId: run.campaignId, userId: run.userId, outcome: { status: 'failed' as const, errorMessage } };
    });
  }

  // ── LeadWorkStore ───────────────────────────────────────────────────────────────────────────

  async leadWork(leadId: string, runId: string): Promise<LeadWork | null> {
    await Promise.resolve();
    const lead = this.#tables.leads.get(leadId);
    const run = this.#tables.runs.get(runId);
    if (lead === undefined || lead.runId !== runId || run === undefined) return null;
    const copy = structuredClone(lead);
    return {
      leadId: copy.id,
      runId: copy.runId,
      userId: copy.userId,
      status: copy.status,
      lead: { email: copy.email, company: copy.company, canonical: copy.canonical },
      fields: copy.fields,
      research:
        copy.research === null
          ? null
          : { text: copy.research, citations: copy.citations ?? [], model: copy.researchModel ?? '', ...(copy.researchUsage === null ? {} : { usage: copy.researchUsage }) },
      researchPrompt: run.researchPrompt,
      personalizationPrompt: run.personalizationPrompt,
      allowQuestions: run.allowQuestions,
      outputs: structuredClone(run.outputs),
      sandbox: false,
      rejectedDraft: structuredClone(this.#tables.claims.get(claimKey(leadId, runId, 'personalization'))?.rejectedDraft ?? null),
    };
  }

  saveResearch(leadId: string, runId: string, research: Research, costUsd: UsdAmount): Change<boolean> {
    const call: PaidCall = { stage: 'research', model: research.model, ...(research.usage === undefined ? {} : { usage: research.usage }), costUsd };
    return this.#change('saveResearch', (t) => {
      this.#release(t, leadId, runId, 'research');
      const lead = t.leads.get(leadId);
      if (lead === undefined || lead.runId !== runId || lead.status !== 'pending') {
        // Another delivery saved first, or the lead was failed meanwhile: the call was paid for all the same.
        this.#addCost(t, leadId, runId, call);
        return false;
      }
      Object.assign(lead, {
        status: 'researched',
        attempts: lead.attempts + 1,
        research: research.text,
        citations: structuredClone(research.citations),
        researchModel: research.model,
        researchUsage: research.usage === undefined ? lead.researchUsage : { ...research.usage },
        costMicros: lead.costMicros + parseUsd(costUsd),
        calls: [...lead.calls, call],
        updatedAt: this.#clock.now(),
      });
      return true;
    });
  }

  saveDraft(leadId: string, runId: string, draft: Draft, costUsd: UsdAmount, problems?: string): Change<boolean> {
    const call: PaidCall = { stage: 'personalization', model: draft.model, ...(draft.usage === undefined ? {} : { usage: draft.usage }), costUsd };
    return this.#change('saveDraft', (t) => {
      this.#release(t, leadId, runId, 'personalization');
      const lead = t.leads.get(leadId);
      if (lead === undefined || lead.runId !== runId || lead.status !== 'researched') {
        this.#addCost(t, leadId, runId, call);
        return false;
      }
      const now = this.#clock.now();
      Object.assign(lead, {
        status: problems === undefined ? 'personalized' : 'needs_review',
        attempts: lead.attempts + 1,
        message: draft.message,
        messageBasis: draft.basis,
        outputs: draft.outputs === undefined ? null : { ...draft.outputs },
        model: draft.model,
        error: problems ?? null,
        costMicros: lead.costMicros + parseUsd(costUsd),
        calls: [...lead.calls, call],
        settledAt: now,
        updatedAt: now,
      });
      return true;
    });
  }

  claimCall(claim: CallClaim): Change<ClaimOutcome> {
    return this.#change('claimCall', (t): ClaimOutcome => {
      const lead = t.leads.get(claim.leadId);
      const run = t.runs.get(claim.runId);
      if (lead === undefined || lead.runId !== claim.runId || run === undefined || FINAL_LEAD_STATUSES.includes(lead.status)) return { kind: 'done' };
      if (run.status === 'cancelled') return { kind: 'cancelled' };
      if (hasEnded(run.status)) return { kind: 'ended' };
      if (run.status === 'paused') return { kind: 'paused' };
      if (lead.status !== STAGE_STARTS[claim.stage]) return { kind: 'done' };
      const now = this.#clock.now();
      const key = claimKey(claim.leadId, claim.runId, claim.stage);
      const row = t.claims.get(key);
      if (row !== undefined && row.owner !== null && row.expiresAt !== null && row.expiresAt > now) return { kind: 'held', expiresInMs: row.expiresAt - now };
      const callsStarted = (row?.callsStarted ?? 0) + 1;
      t.claims.set(key, { ...row, leadId: claim.leadId, runId: claim.runId, stage: claim.stage, owner: claim.owner, expiresAt: now + claim.leaseMs, callsStarted });
      return { kind: 'claimed', callsStarted };
    });
  }

  async runStatusForCall(runId: string): Promise<RunStatus | null> {
    await Promise.resolve();
    return this.#tables.runs.get(runId)?.status ?? null;
  }

  cancelLead(leadId: string, runId: string): Change<boolean> {
    return this.#change('cancelLead', (t) => {
      const lead = t.leads.get(leadId);
      const run = t.runs.get(runId);
      if (lead === undefined || lead.runId !== runId || run?.status !== 'cancelled') return false;
      if (FINAL_LEAD_STATUSES.includes(lead.status) || lead.countedRunId !== null) return false;
      const now = this.#clock.now();
      Object.assign(lead, { status: 'cancelled', error: RUN_CANCELLED_REASON, settledAt: now, countedRunId: runId, updatedAt: now });
      run.cancelled += 1;
      run.costMicros += lead.costMicros;
      run.updatedAt = now;
      return true;
    });
  }

  renewClaim(claim: CallClaim): Change<boolean> {
    return this.#change('renewClaim', (t) => {
      const row = t.claims.get(claimKey(claim.leadId, claim.runId, claim.stage));
      if (row === undefined || row.owner !== claim.owner) return false;
      row.expiresAt = this.#clock.now() + claim.leaseMs;
      return true;
    });
  }

  releaseClaim(claim: Omit<CallClaim, 'leaseMs'>, called: boolean): Change<void> {
    return this.#change('releaseClaim', (t) => {
      const row = t.claims.get(claimKey(claim.leadId, claim.runId, claim.stage));
      if (row === undefined || row.owner !== claim.owner) return;
      Object.assign(row, { owner: null, expiresAt: null, callsStarted: row.callsStarted - (called ? 0 : 1) });
    });
  }

  keepRejectedDraft(leadId: string, runId: string, call: PaidCall, rejected: DraftFeedback): Change<void> {
    return this.#change('keepRejectedDraft', (t) => {
      this.#addCost(t, leadId, runId, call);
      const row = t.claims.get(claimKey(leadId, runId, 'personalization'));
      if (row !== undefined) row.rejectedDraft = structuredClone(rejected);
    });
  }

  addCost(leadId: string, runId: string, call: PaidCall): Change<void> {
    return this.#change('addCost', (t) => this.#addCost(t, leadId, runId, call));
  }

  saveSuppressed(leadId: string, runId: string, reason: string): Change<boolean> {
    return this.#change('saveSuppressed', (t) => {
      const lead = t.leads.get(leadId);
      const run = t.runs.get(runId);
      if (lead === undefined || lead.runId !== runId || (lead.status !== 'pending' && lead.status !== 'researched') || run === undefined || hasEnded(run.status)) return false;
      const now = this.#clock.now();
      Object.assign(lead, { status: 'suppressed', error: reason, settledAt: now, countedRunId: runId, updatedAt: now });
      run.suppressed += 1;
      run.updatedAt = now;
      return true;
    });
  }

  saveFailed(leadId: string, runId: string, reason: string): Change<boolean> {
    return this.#change('saveFailed', (t) => {
      const lead = t.leads.get(leadId);
      if (lead === undefined || lead.runId !== runId || FINAL_LEAD_STATUSES.includes(lead.status)) return false;
      const now = this.#clock.now();
      Object.assign(lead, { status: 'failed', error: reason, settledAt: now, updatedAt: now });
      return true;
    });
  }

  recordAttempt(leadId: string, runId: string): Change<void> {
    return this.#change('recordAttempt', (t) => {
      const lead = t.leads.get(leadId);
      if (lead === undefined || lead.runId !== runId || FINAL_LEAD_STATUSES.includes(lead.status)) return;
      lead.attempts += 1;
      lead.updatedAt = this.#clock.now();
    });
  }

  // ── ProjectionStore ─────────────────────────────────────────────────────────────────────────

  countOutcome(leadId: string, runId: string, rates: KpiRates): Change<boolean> {
    return this.#change('countOutcome', (t) => {
      const lead = t.leads.get(leadId);
      if (lead === undefined || lead.runId !== runId || !PROCESSED_LEAD_STATUSES.includes(lead.status) || lead.countedRunId !== null) return false;
      const run = t.runs.get(runId);
      // A failed run counts no more leads; a paused or cancelled one counts its calls in flight.
      if (run === undefined || !COUNTING_RUN_STATUSES.includes(run.status)) return false;
      const now = this.#clock.now();
      lead.countedRunId = runId;
      lead.updatedAt = now;
      // A cancelled lead was counted when it was cancelled (cancelLead), a suppressed one when suppressed.
      run.processed += 1;
      if (lead.status === 'personalized') run.personalized += 1;
      else if (lead.status === 'needs_review') run.needsReview += 1;
      else if (lead.status === 'failed') run.failed += 1;
      run.costMicros += lead.costMicros;
      run.updatedAt = now;
      if (lead.status !== 'personalized') return true;
      const campaign = t.campaigns.get(lead.campaignId);
      if (campaign !== undefined) {
        campaign.completedCount += 1;
        campaign.updatedAt = now;
      }
      const metrics = t.metrics.get(lead.userId) ?? { userId: lead.userId, leadsPersonalized: 0, hoursCents: 0, moneyCents: 0, updatedAt: now };
      metrics.leadsPersonalized += 1;
      metrics.hoursCents = addToCents(metrics.hoursCents, rates.hoursPerLead);
      metrics.moneyCents = addToCents(metrics.moneyCents, rates.moneyPerLead);
      metrics.updatedAt = now;
      t.metrics.set(lead.userId, metrics);
      return true;
    });
  }

  completeIfSettled(runId: string): Change<RunCompletion | null> {
    return this.#change('completeIfSettled', (t) => {
      const run = t.runs.get(runId);
      if (run === undefined || !workedOn(run)) return null;
      if ([...t.leads.values()].some((lead) => lead.runId === runId && lead.countedRunId === null)) return null;
      const outcome =
        run.status === 'cancelled'
          ? CANCELLED_OUTCOME
          : outcomeOf({ valid: run.valid, skipped: run.skipped, personalized: run.personalized, needs_review: run.needsReview, failed: run.failed, suppressed: run.suppressed });
      const now = this.#clock.now();
      Object.assign(run, { status: outcome.status, errorMessage: outcome.errorMessage, completedAt: now, updatedAt: now });
      return { runId, campaignId: run.campaignId, userId: run.userId, outcome };
    });
  }

  // ── ReconcilerStore ─────────────────────────────────────────────────────────────────────────

  async stalledExtractions(staleness: Staleness, limit: number): Promise<readonly RunToExtract[]> {
    await Promise.resolve();
    const before = this.#clock.now() - staleness.leaseMs;
    return [...this.#tables.runs.values()]
      .filter((run) => (run.status === 'queued' || run.status === 'extracting') && run.updatedAt <= before)
      .filter((run) => (staleness.outbox === 'own' ? !this.#outbox.hasEvent((event) => event.type === 'campaign.submitted' && event.run_id === run.id) : !this.#outbox.hasEventOfRun(run.id)))
      .sort((a, b) => a.updatedAt - b.updatedAt)
      .slice(0, limit)
      .map((run) => toRunToExtract(run));
  }

  async stalledLeads(staleness: Staleness, statuses: readonly LeadStatus[], limit: number, after?: StuckLead): Promise<readonly StuckLead[]> {
    await Promise.resolve();
    if (statuses.length === 0) return [];
    const before = this.#clock.now() - staleness.leaseMs;
    const own = staleness.outbox === 'own';
    const runs = [...this.#tables.runs.values()].filter((run) => workedOn(run) && run.updatedAt <= before && (own || !this.#outbox.hasEventOfRun(run.id)));
    const runIds = new Set(runs.map((run) => run.id));
    const key = (runId: string, leadId: string) => `${runId} ${leadId}`;
    return [...this.#tables.leads.values()]
      .filter((lead) => runIds.has(lead.runId) && lead.countedRunId === null && lead.updatedAt <= before && statuses.includes(lead.status))
      .filter((lead) => !own || !this.#outbox.hasEvent((event) => event.run_id === lead.runId && 'lead_id' in event && event.lead_id === lead.id))
      .filter((lead) => after === undefined || key(lead.runId, lead.id) > key(after.runId, after.leadId))
      .sort((a, b) => (key(a.runId, a.id) < key(b.runId, b.id) ? -1 : 1))
      .slice(0, limit)
      .map((lead) => ({ leadId: lead.id, runId: lead.runId, status: lead.status }));
  }

  #brokerEpoch: string | null = null;

  async brokerEpoch(): Promise<string | null> {
    await Promise.resolve();
    return this.#brokerEpoch;
  }

  recordBrokerEpoch(epoch: string): Change<void> {
    return this.#change('recordBrokerEpoch', () => {
      this.#brokerEpoch = epoch;
    });
  }

  async settledRuns(limit: number): Promise<readonly string[]> {
    await Promise.resolve();
    const leads = [...this.#tables.leads.values()];
    return [...this.#tables.runs.values()]
      .filter((run) => workedOn(run) && !leads.some((lead) => lead.runId === run.id && lead.countedRunId === null))
      .sort((a, b) => a.updatedAt - b.updatedAt)
      .slice(0, limit)
      .map((run) => run.id);
  }

  // ── The suppression list (LeadScreen) ───────────────────────────────────────────────────────

  /** Puts a normalized entry on the user's list (tests only: the edge's CRUD is the PostgreSQL store's). */
  addSuppression(userId: string, value: string): void {
    this.#tables.suppressions.set(`${userId}\u0000${value}`, { userId, value, kind: value.includes('@') ? 'email' : 'domain' });
  }

  async screen(
    run: { readonly userId: string; readonly campaignId: string },
    leads: readonly LeadToScreen[],
    withinDays: number | null,
  ): Promise<ReadonlyMap<string, LeadScreening>> {
    await Promise.resolve();
    const found = new Map<string, LeadScreening>();
    const since = withinDays === null ? null : this.#clock.now() - withinDays * 24 * 3600 * 1000;
    for (const lead of leads) {
      const listed = lead.keys.filter((key) => this.#tables.suppressions.has(`${run.userId}\u0000${key}`));
      const earlier = since === null
        ? undefined
        : [...this.#tables.leads.values()]
            .filter((other) => other.userId === run.userId && other.email === lead.email && other.campaignId !== run.campaignId && other.status === 'personalized' && (other.settledAt ?? 0) >= since)
            .sort((a, b) => (b.settledAt ?? 0) - (a.settledAt ?? 0))[0];
      if (listed.length === 0 && earlier === undefined) continue;
      found.set(lead.email, {
        listed,
        personalizedElsewhere: earlier === undefined ? null : { campaignName: this.#tables.campaigns.get(earlier.campaignId)?.name ?? '', personalizedAt: new Date(earlier.settledAt ?? 0).toISOString() },
      });
    }
    return found;
  }

  async listedFor(runId: string, keys: readonly string[]): Promise<readonly string[]> {
    await Promise.resolve();
    const run = this.#tables.runs.get(runId);
    if (run === undefined) return [];
    return keys.filter((key) => this.#tables.suppressions.has(`${run.userId}\u0000${key}`));
  }

  // ── Finished runs and their deliveries ──────────────────────────────────────────────────────

  async completedRun(runId: string): Promise<CompletedRun | null> {
    await Promise.resolve();
    const run = this.#tables.runs.get(runId);
    if (run === undefined || (run.status !== 'completed' && run.status !== 'failed' && run.status !== 'cancelled') || run.completedAt === null) return null;
    const campaign = this.#tables.campaigns.get(run.campaignId);
    return {
      runId: run.id,
      campaignId: run.campaignId,
      userId: run.userId,
      status: run.status,
      counts: {
        valid: run.valid,
        personalized: run.personalized,
        needs_review: run.needsReview,
        failed: run.failed,
        skipped: run.skipped,
        suppressed: run.suppressed,
        cancelled: run.cancelled,
      },
      costUsd: formatMicros(run.costMicros),
      completedAt: new Date(run.completedAt).toISOString(),
      options: { ...campaign?.options },
    };
  }

  /** The runs' deliveries to the outside world (its own object: its method names are the lead store's too). */
  readonly deliveries: DeliveryLog = {
    delivery: async (runId, consumer) => {
      await Promise.resolve();
      const row = this.#tables.deliveries.get(deliveryKey(runId, consumer));
      if (row === undefined) return null;
      const iso = (time: number | null) => (time === null ? null : new Date(time).toISOString());
      return { attempts: row.attempts, lastError: row.lastError, deliveredAt: iso(row.deliveredAt), failedAt: iso(row.failedAt) };
    },
    recordAttempt: (run, consumer, error) =>
      this.#change('recordDeliveryAttempt', (t) => {
        const row = deliveryRow(t, run, consumer);
        row.attempts += 1;
        row.lastError = error;
        if (error === null) row.deliveredAt ??= this.#clock.now();
      }),
    recordGivenUp: (run, consumer, reason) =>
      this.#change('recordDeliveryGivenUp', (t) => {
        const row = deliveryRow(t, run, consumer);
        if (row.deliveredAt !== null) return;
        row.lastError = reason;
        row.failedAt ??= this.#clock.now();
      }),
  };

  // ── Internals ───────────────────────────────────────────────────────────────────────────────

  /** A change of this store: `write` on the tables, rolled back with whatever commits with it when either throws. */
  #change<R>(name: string, write: (tables: Tables) => R): Change<R> {
    return fakeChange(
      name,
      () => write(this.#tables),
      (work) => {
        const snapshot = structuredClone(this.#tables);
        try {
          return work();
        } catch (error) {
          this.#tables = snapshot;
          throw error;
        }
      },
    );
  }

  /** The stage's result is saved (or the lead moved on): its claim is released, whoever holds it. */
  #release(t: Tables, leadId: string, runId: string, stage: PaidStage): void {
    const row = t.claims.get(claimKey(leadId, runId, stage));
    if (row !== undefined) Object.assign(row, { owner: null, expiresAt: null });
  }

  /** The lead of that run pays for the call; its run too when the lead's outcome is counted already. */
  #addCost(t: Tables, leadId: string, runId: string, call: PaidCall): void {
    const lead = t.leads.get(leadId);
    if (lead === undefined || lead.runId !== runId) return;
    const now = this.#clock.now();
    const micros = parseUsd(call.costUsd);
    lead.costMicros += micros;
    lead.calls = [...lead.calls, call];
    lead.updatedAt = now;
    if (lead.countedRunId === null) return;
    const run = t.runs.get(runId);
    if (run === undefined) return;
    run.costMicros += micros;
    run.updatedAt = now;
  }
}

/** A run whose leads are worked on: personalizing, or cancelled and not ended yet (as the PostgreSQL stores). */
function workedOn(run: RunRow): boolean {
  return run.status === 'personalizing' || (run.status === 'cancelled' && run.completedAt === null);
}

function claimKey(leadId: string, runId: string, stage: PaidStage): string {
  return `${leadId}\u0000${runId}\u0000${stage}`;
}

function deliveryKey(runId: string, consumer: string): string {
  return `${runId}\u0000${consumer}`;
}

function deliveryRow(t: Tables, run: { readonly runId: string; readonly userId: string }, consumer: string): DeliveryRow {
  const key = deliveryKey(run.runId, consumer);
  let row = t.deliveries.get(key);
  if (row === undefined) {
    row = { runId: run.runId, userId: run.userId, consumer, attempts: 0, lastError: null, deliveredAt: null, failedAt: null };
    t.deliveries.set(key, row);
  }
  return row;
}

function toRunToExtract(run: RunRow, campaign?: CampaignRow): RunToExtract {
  return { runId: run.id, campaignId: run.campaignId, userId: run.userId, demo: run.demo, ...(campaign === undefined ? {} : { options: { ...campaign.options } }) };
}

/** How a run starts a lead it stores or takes over: pending, or suppressed (settled and counted) with the reason. */
function startOf(runId: string, reason: string | undefined, now: number): Partial<LeadRow> {
  return reason === undefined ? {} : { status: 'suppressed', error: reason, settledAt: now, countedRunId: runId };
}

function emailKey(campaignId: string, email: string): string {
  return `${campaignId}\u0000${email}`;
}

function newLead(run: RunToExtract, lead: Lead, now: number): LeadRow {
  return {
    id: randomUUID(),
    campaignId: run.campaignId,
    userId: run.userId,
    row: lead.row,
    email: lead.email,
    company: lead.company,
    canonical: { ...lead.canonical },
    fields: lead.fields.map((field) => ({ ...field })),
    ...resetProgress(run.runId),
    updatedAt: now,
  };
}

/** A lead's progress as a run starts it: what the upsert resets when a later run takes a lead over. */
function resetProgress(runId: string) {
  return {
    runId,
    status: 'pending' as LeadStatus,
    research: null,
    citations: null,
    researchModel: null,
    researchUsage: null,
    message: null,
    messageBasis: null,
    outputs: null,
    model: null,
    error: null,
    attempts: 0,
    costMicros: 0,
    calls: [] as PaidCall[],
    settledAt: null,
    countedRunId: null,
  };
}

/** "0.007100" → 7100 (micro-dollars); throws for anything but a UsdAmount. */
export function parseUsd(amount: UsdAmount): number {
  const match = /^(\d+)\.(\d{6})$/.exec(amount);
  if (match === null) throw new TypeError(`not a USD amount with 6 decimals: ${amount}`);
  return Number(match[1]) * 1_000_000 + Number(match[2]);
}

export function formatMicros(micros: number): UsdAmount {
  return `${Math.floor(micros / 1_000_000)}.${String(micros % 1_000_000).padStart(6, '0')}`;
}

/** Adds a decimal rate to an amount kept in cents, rounded half up to the cent as numeric(14,2) stores it. */
function addToCents(cents: number, rate: number): number {
  const micros = cents * 10_000 + Math.round(rate * 1_000_000);
  return Math.floor((micros + 5_000) / 10_000);
}

function formatCents(cents: number): string {
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

function keyOf(userId: string, key: string): string {
  return `${userId}:${key}`;
}
