/**
 * Everything a consumer's factory may ask for, by name: the ports (and the few settings the use
 * cases take as plain values). A declaration lists the names it `uses` and its factory receives
 * exactly those, so a new consumer never widens what the others see.
 *
 * A consumer that brings a port of its own adds it here from its own module, by declaration
 * merging (as Hono's ContextVariableMap is extended), and the composition root supplies it:
 *
 *   declare module '../kernel/ports.ts' {
 *     interface PipelinePorts { readonly crm: CrmClient }
 *   }
 */
import type { KpiRates } from '../../../domain/campaigns/run.ts';
import type { ImportLimits } from '../../../domain/leads/import-error.ts';
import type { Pricing } from '../../../domain/pricing/pricing.ts';
import type { DeliveryLog } from '../../../ports/delivery-log.port.ts';
import type { ExtractionStore } from '../../../ports/extraction-store.port.ts';
import type { LeadFileReader } from '../../../ports/lead-file-reader.port.ts';
import type { LeadFileStore } from '../../../ports/lead-file-store.port.ts';
import type { LeadWorkStore } from '../../../ports/lead-work-store.port.ts';
import type { ProjectionStore } from '../../../ports/projection-store.port.ts';
import type { MessageWriter, ResearchProvider } from '../../../ports/providers.port.ts';
import type { ResearchCache } from '../../../ports/research-cache.port.ts';
import type { RunNotifier } from '../../../ports/run-notifications.port.ts';
import type { RunReader } from '../../../ports/run-reader.port.ts';
import type { LeadScreen } from '../../../ports/suppression-store.port.ts';
import type { Tracing } from '../../../ports/tracing.port.ts';
import type { UnitOfWork } from '../../../ports/unit-of-work.port.ts';

export interface PipelinePorts {
  /** Commits a change with its events (the outbox), for handlers that commit more than once. */
  readonly uow: UnitOfWork;
  readonly extractionStore: ExtractionStore;
  readonly leadWork: LeadWorkStore;
  readonly projectionStore: ProjectionStore;
  /** Each user's suppression list and personalization history, looked up before a lead is stored or researched. */
  readonly suppressions: LeadScreen;
  /** Runs that ended, with their campaign's options: for consumers of `run.completed`. */
  readonly runs: RunReader;
  /** A run's deliveries to the outside world (webhooks, pushes), shown on its status. */
  readonly deliveries: DeliveryLog;
  readonly files: LeadFileStore;
  readonly reader: LeadFileReader;
  readonly tracing: Tracing;
  readonly notifier: RunNotifier;
  /** A user's research per company, shared by the company's leads (single flight). */
  readonly researchCache: ResearchCache;
  /** How long a company's research is reused (RESEARCH_CACHE_TTL); 0: every lead is researched on its own. */
  readonly researchCacheTtlMs: number;
  /** Perplexity (or the sandbox), behind its resilience. */
  readonly research: ResearchProvider;
  /** Claude through OpenRouter (or the sandbox), behind its resilience. */
  readonly writer: MessageWriter;
  readonly importLimits: ImportLimits;
  /** Leads per insert statement in extraction. */
  readonly extractionBatchSize: number;
  readonly pricing: Pricing;
  readonly kpiRates: KpiRates;
  /** Phrases an opening line may not use. */
  readonly bannedPhrases: readonly string[];
}

/** How the composition root supplies each port: built on first use, so a process builds only what its consumers use. */
export type PortFactories = { readonly [K in keyof PipelinePorts]: () => PipelinePorts[K] | Promise<PipelinePorts[K]> };

/** The ports listed above, which every process can build; the rest are the ports consumers add. */
export type CorePortName =
  | 'uow'
  | 'extractionStore'
  | 'leadWork'
  | 'projectionStore'
  | 'suppressions'
  | 'runs'
  | 'deliveries'
  | 'files'
  | 'reader'
  | 'tracing'
  | 'notifier'
  | 'researchCache'
  | 'researchCacheTtlMs'
  | 'research'
  | 'writer'
  | 'importLimits'
  | 'extractionBatchSize'
  | 'pricing'
  | 'kpiRates'
  | 'bannedPhrases';

/** The factories of the ports consumers added (by declaration merging): the composition root must supply each. */
export type AddedPortFactories = Omit<PortFactories, CorePortName>;

/** The ports, each built once, on first request. */
export class PortCatalog {
  readonly #factories: PortFactories;
  readonly #built = new Map<keyof PipelinePorts, Promise<unknown>>();

  constructor(factories: PortFactories) {
    this.#factories = factories;
  }

  get<K extends keyof PipelinePorts>(name: K): Promise<PipelinePorts[K]> {
    let port = this.#built.get(name);
    if (port === undefined) {
      port = Promise.resolve().then(() => this.#factories[name]());
      // A port that failed to build (a broker briefly unreachable) is built again on the next request.
      port.catch(() => this.#built.delete(name));
      this.#built.set(name, port);
    }
    return port as Promise<PipelinePorts[K]>;
  }

  /** Exactly the named ports, as an object. */
  async pick<U extends keyof PipelinePorts>(names: readonly U[]): Promise<Pick<PipelinePorts, U>> {
    const entries = await Promise.all(names.map(async (name) => [name, await this.get(name)] as const));
    return Object.fromEntries(entries) as Pick<PipelinePorts, U>;
  }
}
