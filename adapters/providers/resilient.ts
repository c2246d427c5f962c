/**
 * The two providers as outside APIs: their specs from the configuration, and small decorators
 * that run each port call through its API (adapters/outside-api: breaker, shared rate budget,
 * adaptive concurrency, timeout, account-level pause). The protocol adapters beside this file
 * know the protocols only; this file is the one place that ties them to their API names.
 *
 * `createResilientProviders` is the composition root's convenience: both specs in one
 * `createOutsideApis`, the decorated ports, and the APIs themselves (`apis`), so that a consumer
 * finds its gate by name. One call per worker process; every process of a deployment must use
 * the same bucket.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Log } from '../../ports/logger.port.ts';
import type { ApiGate, ApiStatusReader, OutsideApi } from '../../ports/outside-api.port.ts';
import type { Draft, LeadProfile, MessageWriter, ProviderCallOptions, Research, ResearchProvider, WriteRequest } from '../../ports/providers.port.ts';
import { costOf, type Price } from '../../domain/pricing/pricing.ts';
import type { Usage } from '../../ports/providers.port.ts';
import { instruments } from '../telemetry/metrics.ts';
import { createOutsideApis, type BreakerSettings, type OutsideApis, type OutsideApiSpec } from '../outside-api/index.ts';
import { PERSONALIZATION_API, RESEARCH_API, type ProviderApiName } from './apis.ts';
import { DEFAULT_PROVIDER_TIMEOUT_MS } from './client.ts';

/** Perplexity's usage tier 0. */
export const DEFAULT_RESEARCH_RPM = 50;
/** OpenRouter sets no platform cap on paid models: a guard, to raise with the account. */
export const DEFAULT_PERSONALIZATION_RPM = 500;

export interface ResilienceConfig {
  /** RESEARCH_RPM: the research account's requests a minute, all processes together; 0 for no cap. Default 50. */
  readonly researchRpm?: number | undefined;
  /** PERSONALIZATION_RPM: the same for the writer. Default 500. */
  readonly personalizationRpm?: number | undefined;
  /** PROVIDER_TIMEOUT_MS: each call's own limit, for both providers. Default 60000. */
  readonly timeoutMs?: number | undefined;
  /** PROVIDER_INITIAL_CONCURRENCY: calls at once per provider and process to begin with. Default: the maximum with a rate cap, 8 without. */
  readonly initialConcurrency?: number | undefined;
  /** PROVIDER_MAX_CONCURRENCY: the most calls at once per provider and process. Default 64. */
  readonly maxConcurrency?: number | undefined;
  /** PROVIDER_SLOW_CALL_MS: a call slower than this halves concurrency. Default 30000. */
  readonly slowCallMs?: number | undefined;
  /** BREAKER_ERROR_THRESHOLD_PERCENT (50), BREAKER_VOLUME_THRESHOLD (10), BREAKER_WINDOW_MS (30000), BREAKER_RESET_MS (15000). */
  readonly breaker?: Partial<BreakerSettings> | undefined;
  /** PROVIDER_PROBE_INTERVAL_MS: between probe calls while a provider is paused. Default 30000. */
  readonly probeIntervalMs?: number | undefined;
}

/** The two providers' specs: the same settings, each its own rate cap. */
export function providerApiSpecs(config: ResilienceConfig = {}): OutsideApiSpec[] {
  const shared = {
    timeoutMs: config.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS,
    breaker: config.breaker,
    initialConcurrency: config.initialConcurrency,
    maxConcurrency: config.maxConcurrency,
    slowCallMs: config.slowCallMs,
    probeIntervalMs: config.probeIntervalMs,
  };
  return [
    { name: RESEARCH_API, rpm: config.researchRpm ?? DEFAULT_RESEARCH_RPM, ...shared },
    { name: PERSONALIZATION_API, rpm: config.personalizationRpm ?? DEFAULT_PERSONALIZATION_RPM, ...shared },
  ];
}

export interface ResilientProviders {
  readonly research: ResearchProvider;
  readonly writer: MessageWriter;
  /** Both APIs by name (`research`, `personalization`). */
  readonly apis: OutsideApis;
  /** Give each to its consumer's declaration (`gate`): research and personalization. */
  readonly gates: Readonly<Record<ProviderApiName, ApiGate>>;
  readonly status: ApiStatusReader;
  /** Stops the watches and timers; the NATS connection is the caller's. */
  close(): void;
}

export interface ResilientProvidersOptions {
  readonly config?: ResilienceConfig;
  /** The outside APIs' KV bucket; default `aga-providers`. */
  readonly bucket?: string;
  readonly log: Log;
}

export async function createResilientProviders(
  nc: NatsConnection,
  inner: { readonly research: ResearchProvider; readonly writer: MessageWriter },
  options: ResilientProvidersOptions,
): Promise<ResilientProviders> {
  const apis = await createOutsideApis(nc, providerApiSpecs(options.config), { bucket: options.bucket, log: options.log });
  const research = apis.get(RESEARCH_API);
  const personalization = apis.get(PERSONALIZATION_API);
  return {
    research: new ResilientResearchProvider(inner.research, research),
    writer: new ResilientMessageWriter(inner.writer, personalization),
    apis,
    gates: { research: research.gate, personalization: personalization.gate },
    status: apis.status,
    close: () => apis.close(),
  };
}

/** A ResearchProvider whose every call goes through its outside API's resilience; its tokens and cost (at `price`) are recorded. */
export class ResilientResearchProvider implements ResearchProvider {
  readonly #inner: ResearchProvider;
  readonly #api: OutsideApi;
  readonly #price: Price | undefined;

  constructor(inner: ResearchProvider, api: OutsideApi, price?: Price) {
    this.#inner = inner;
    this.#api = api;
    this.#price = price;
  }

  async research(input: { lead: LeadProfile; prompt?: string }, signal: AbortSignal, options: ProviderCallOptions = {}): Promise<Research> {
    const found = await this.#api.call((callSignal) => this.#inner.research(input, callSignal), signal, beforeCallOf(options));
    recordUsage(this.#api.name, found.model, found.usage, this.#price);
    return found;
  }
}

/** A MessageWriter whose every call goes through its outside API's resilience. */
export class ResilientMessageWriter implements MessageWriter {
  readonly #inner: MessageWriter;
  readonly #api: OutsideApi;
  readonly #price: Price | undefined;

  constructor(inner: MessageWriter, api: OutsideApi, price?: Price) {
    this.#inner = inner;
    this.#api = api;
    this.#price = price;
  }

  async write(input: WriteRequest, signal: AbortSignal, options: ProviderCallOptions = {}): Promise<Draft> {
    const draft = await this.#api.call((callSignal) => this.#inner.write(input, callSignal), signal, beforeCallOf(options));
    recordUsage(this.#api.name, draft.model, draft.usage, this.#price);
    return draft;
  }
}

/**
 * A model call's tokens (GenAI conventions: `gen_ai.client.token.usage` by `gen_ai.token.type`)
 * and its cost at `price` (`aga.provider.cost`, US dollars), by API and model.
 */
export function recordUsage(api: string, model: string, usage: Usage | undefined, price: Price | undefined): void {
  const { tokenUsage, providerCost } = instruments();
  const attributes = { api, 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': model };
  if (usage !== undefined) {
    tokenUsage.record(usage.inputTokens, { ...attributes, 'gen_ai.token.type': 'input' });
    tokenUsage.record(usage.outputTokens, { ...attributes, 'gen_ai.token.type': 'output' });
  }
  if (price !== undefined) providerCost.add(Number(costOf(usage, price)), attributes);
}

/** The call's `beforeCall`, run by the API once the call has its turn (its slot and rate), right before the request; and the signal that ends its wait for that turn. */
function beforeCallOf(options: ProviderCallOptions): { readonly beforeCall?: () => Promise<void>; readonly waitSignal?: AbortSignal } {
  return {
    ...(options.beforeCall === undefined ? {} : { beforeCall: options.beforeCall }),
    ...(options.waitSignal === undefined ? {} : { waitSignal: options.waitSignal }),
  };
}
