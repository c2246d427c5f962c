/**
 * The pipeline's consumers as declarations: a durable name, the events, the delivery settings and
 * the handler. The messaging adapter provisions and runs them; a process runs the subset its
 * roles name. Adding a consumer (say, for a CRM export on `run.completed`) is a name in
 * CONSUMER_NAMES, its events, its settings and its handler below.
 *
 * Why each number (see ports/event-consumer.port.ts for what each setting means):
 * - research: a provider call takes ~7-8 s at the median and can take a minute when the agent
 *   searches a lot, so the ack wait is 120 s (heartbeats extend it during a call). Six deliveries
 *   with backoff of 2 s to 2 min ride out a provider outage of about four minutes before a lead is
 *   failed (pushback, i.e. 429, 402 or an open circuit, never fails one). The provider's limiter
 *   (rate cap and adaptive concurrency) decides how many calls run, so the consumer only has to
 *   hand it enough work: 512 in flight across all processes is room for Perplexity's top tier
 *   (2,000 requests a minute at ~8 s a call keeps ~270 calls in flight) with handlers waiting for
 *   their turn besides; each process runs up to `providerConcurrency` handlers (64).
 * - personalization: a generation call takes 2-5 s, so 60 s of ack wait is ample; same retries,
 *   and the same reasoning for 512 in flight.
 * - extraction: one message is a whole file, streamed for seconds (heartbeats keep it alive past
 *   the 60 s ack wait). Failures are the database's or the object store's, so five deliveries with
 *   longer backoff; only 4 files at once, each inserting 1,000-row batches, to keep the database
 *   and the publishes of lead events from crowding out the rest.
 * - projection: one short transaction per event, so 30 s of ack wait, short backoff (lock
 *   contention or a database restart clears quickly), ten deliveries because giving up on a count
 *   is worse than trying (the reconciler would re-drive it anyway), and 256 in flight: counts are
 *   cheap and a run with thousands of leads settles quickly.
 */
import type { KpiRates } from '../../domain/campaigns/run.ts';
import type { Pricing } from '../../domain/pricing/pricing.ts';
import type { ApiGate } from '../../ports/outside-api.port.ts';
import type { ImportLimits } from '../../domain/leads/import-error.ts';
import type { ExtractionStore, LeadWorkStore, ProjectionStore } from '../../ports/campaign-store.port.ts';
import type { EventType } from '../../domain/campaigns/events.ts';
import { declareConsumer, type ConsumerDeclaration, type ConsumerSettings, type ConsumerTopology, type EventHandler } from '../../ports/event-consumer.port.ts';
import type { EventPublisher } from '../../ports/event-publisher.port.ts';
import type { LeadFileReader } from '../../ports/lead-file-reader.port.ts';
import type { LeadFileStore } from '../../ports/lead-file-store.port.ts';
import type { MessageWriter, ResearchProvider } from '../../ports/providers.port.ts';
import type { RunNotifier } from '../../ports/run-notifications.port.ts';
import type { Tracing } from '../../ports/tracing.port.ts';
import { ExtractLeads } from './extract-leads.ts';
import { PersonalizeLead } from './personalize-lead.ts';
import { ProjectOutcome } from './project-outcome.ts';
import { ResearchLead } from './research-lead.ts';

export const CONSUMER_NAMES = ['extraction', 'research', 'personalization', 'projection'] as const;
export type ConsumerName = (typeof CONSUMER_NAMES)[number];

const SECOND = 1000;

export const DEFAULT_CONSUMER_SETTINGS: Readonly<Record<ConsumerName, ConsumerSettings>> = {
  extraction: { ackWaitMs: 60 * SECOND, maxDeliver: 5, backoffMs: [5 * SECOND, 30 * SECOND, 60 * SECOND], maxAckPending: 4 },
  research: {
    ackWaitMs: 120 * SECOND,
    maxDeliver: 6,
    backoffMs: [2 * SECOND, 10 * SECOND, 30 * SECOND, 60 * SECOND, 120 * SECOND],
    maxAckPending: 512,
  },
  personalization: {
    ackWaitMs: 60 * SECOND,
    maxDeliver: 6,
    backoffMs: [2 * SECOND, 10 * SECOND, 30 * SECOND, 60 * SECOND, 120 * SECOND],
    maxAckPending: 512,
  },
  projection: { ackWaitMs: 30 * SECOND, maxDeliver: 10, backoffMs: [SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND], maxAckPending: 256 },
};

export interface PipelineDeps {
  readonly store: ExtractionStore & LeadWorkStore & ProjectionStore;
  readonly files: LeadFileStore;
  readonly reader: LeadFileReader;
  readonly limits: ImportLimits;
  readonly publisher: EventPublisher;
  readonly tracing: Tracing;
  readonly notifier: RunNotifier;
  /** Needed only to run the research consumer. */
  readonly research?: ResearchProvider;
  /** Needed only to run the personalization consumer. */
  readonly writer?: MessageWriter;
  readonly rates: KpiRates;
  /** Prices of provider calls (default DEFAULT_PRICING). */
  readonly pricing?: Pricing;
  /** Research and personalization pull only while their provider is usable. */
  readonly gates?: { readonly research?: ApiGate; readonly personalization?: ApiGate };
  /** Phrases an opening line may not use (default DEFAULT_BANNED_PHRASES). */
  readonly bannedPhrases?: readonly string[];
  /** Leads per insert statement in extraction (default 1000). */
  readonly extractionBatchSize?: number;
  /**
   * Handlers at once per provider consumer (research, personalization) in this process (default
   * PROVIDER_CONSUMER_CONCURRENCY). The provider's limiter, not this figure, decides how many
   * calls run: it only has to be above what the limiter allows plus the handlers reading or
   * writing the database around their call.
   */
  readonly providerConcurrency?: number;
}

/**
 * The default of `providerConcurrency` where nothing sets it (the composition root passes the
 * limiter's ceiling). Too few handlers, and they, not the account's rate, set the pace: 600
 * requests a minute at 1.5 s a call needs 15 calls in flight, and every handler also spends some
 * time on the database and waiting for its turn.
 */
export const PROVIDER_CONSUMER_CONCURRENCY = 64;

/** Per-consumer overrides of the defaults (e.g. short backoff in tests). */
export type ConsumerSettingsOverrides = { readonly [name in ConsumerName]?: Partial<ConsumerSettings> };

/** The consumers that call a provider. */
const PROVIDER_CONSUMERS: ReadonlySet<ConsumerName> = new Set(['research', 'personalization']);

const CONSUMER_EVENTS = {
  extraction: ['campaign.submitted'],
  research: ['lead.extracted'],
  personalization: ['lead.researched'],
  projection: ['lead.personalized', 'lead.needs_review', 'lead.failed'],
} as const satisfies Record<ConsumerName, readonly EventType[]>;

type HandlerOf<N extends ConsumerName> = EventHandler<(typeof CONSUMER_EVENTS)[N][number]>;

const HANDLERS: { readonly [N in ConsumerName]: (deps: PipelineDeps) => HandlerOf<N> } = {
  extraction: (deps) =>
    new ExtractLeads({
      store: deps.store,
      files: deps.files,
      reader: deps.reader,
      limits: deps.limits,
      publisher: deps.publisher,
      tracing: deps.tracing,
      notifier: deps.notifier,
      ...(deps.extractionBatchSize === undefined ? {} : { batchSize: deps.extractionBatchSize }),
    }),
  research: (deps) =>
    new ResearchLead({
      store: deps.store,
      research: required(deps.research, 'research'),
      publisher: deps.publisher,
      ...(deps.pricing === undefined ? {} : { pricing: deps.pricing }),
    }),
  personalization: (deps) =>
    new PersonalizeLead({
      store: deps.store,
      writer: required(deps.writer, 'personalization'),
      publisher: deps.publisher,
      ...(deps.pricing === undefined ? {} : { pricing: deps.pricing }),
      ...(deps.bannedPhrases === undefined ? {} : { bannedPhrases: deps.bannedPhrases }),
    }),
  projection: (deps) => new ProjectOutcome({ store: deps.store, rates: deps.rates, publisher: deps.publisher, notifier: deps.notifier }),
};

/**
 * The pipeline's consumers without their handlers: what every process provisions at start-up,
 * whatever it runs (with interest retention, an event published before its consumer exists is
 * dropped, so the edge must create the consumers too).
 */
export function pipelineTopology(overrides: ConsumerSettingsOverrides = {}): ConsumerTopology[] {
  return CONSUMER_NAMES.map((name) => topologyOf(name, overrides));
}

function topologyOf<N extends ConsumerName>(name: N, overrides: ConsumerSettingsOverrides): ConsumerTopology<(typeof CONSUMER_EVENTS)[N][number]> {
  return { name, events: CONSUMER_EVENTS[name], settings: { ...DEFAULT_CONSUMER_SETTINGS[name], ...overrides[name] } };
}

/**
 * The declarations of the named consumers (all four by default), with their handlers. A process
 * builds only the consumers its roles run, so it needs a provider only if it runs its consumer.
 */
export function pipelineConsumers(
  deps: PipelineDeps,
  overrides: ConsumerSettingsOverrides = {},
  names: readonly string[] = CONSUMER_NAMES,
): ConsumerDeclaration[] {
  const declare = <N extends ConsumerName>(name: N): ConsumerDeclaration => {
    const gate = name === 'research' ? deps.gates?.research : name === 'personalization' ? deps.gates?.personalization : undefined;
    return declareConsumer({
      ...topologyOf(name, overrides),
      handler: HANDLERS[name](deps),
      ...(gate === undefined ? {} : { gate }),
      ...(PROVIDER_CONSUMERS.has(name) ? { concurrency: deps.providerConcurrency ?? PROVIDER_CONSUMER_CONCURRENCY } : {}),
    });
  };
  return CONSUMER_NAMES.filter((name) => names.includes(name)).map((name) => declare(name));
}

function required<T>(provider: T | undefined, consumer: ConsumerName): T {
  if (provider === undefined) throw new Error(`the ${consumer} consumer needs its provider`);
  return provider;
}
