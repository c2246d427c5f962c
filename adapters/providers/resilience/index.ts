/**
 * Wraps both providers in their resilience (limiter, circuit breaker, 402 pause) over the shared
 * state on NATS KV, and hands out the gates their consumers wait at and the status the edge shows.
 * One call per worker process; every process of a deployment must use the same bucket.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Log } from '../../../ports/logger.port.ts';
import type { ProviderGate, ProviderRole, ProviderStatusReader } from '../../../ports/provider-gate.port.ts';
import type { MessageWriter, ResearchProvider } from '../../../ports/providers.port.ts';
import { NatsRateBudget } from '../../nats/provider-budget.ts';
import { NatsProviderStatus } from '../../nats/provider-status.ts';
import { ProviderBreaker, type BreakerSettings } from './breaker.ts';
import { createProviderLimiter, DEFAULT_LIMITER_SETTINGS } from './limiter.ts';
import { ProviderResilience, ResilientMessageWriter, ResilientResearchProvider } from './resilient-providers.ts';

/** Perplexity's usage tier 0. */
export const DEFAULT_RESEARCH_RPM = 50;
/** OpenRouter sets no platform cap on paid models: a guard, to raise with the account. */
export const DEFAULT_PERSONALIZATION_RPM = 500;
export const DEFAULT_PROBE_INTERVAL_MS = 30_000;

export interface ResilienceConfig {
  /** RESEARCH_RPM: the research account's requests a minute, all processes together; 0 for no cap. Default 50. */
  readonly researchRpm?: number | undefined;
  /** PERSONALIZATION_RPM: the same for the writer. Default 500. */
  readonly personalizationRpm?: number | undefined;
  /** PROVIDER_INITIAL_CONCURRENCY: calls at once per provider and process to begin with. Default: the maximum with a rate cap, 8 without. */
  readonly initialConcurrency?: number | undefined;
  /** PROVIDER_MAX_CONCURRENCY: the most calls at once per provider and process. Default 64. */
  readonly maxConcurrency?: number | undefined;
  /** PROVIDER_SLOW_CALL_MS: a call slower than this halves concurrency. Default 30000. */
  readonly slowCallMs?: number | undefined;
  /** BREAKER_ERROR_THRESHOLD_PERCENT (50), BREAKER_VOLUME_THRESHOLD (10), BREAKER_WINDOW_MS (30000), BREAKER_RESET_MS (15000). */
  readonly breaker?: Partial<BreakerSettings> | undefined;
  /** PROVIDER_PROBE_INTERVAL_MS: between probe calls while a provider is out of credit. Default 30000. */
  readonly probeIntervalMs?: number | undefined;
}

export interface ResilientProviders {
  readonly research: ResearchProvider;
  readonly writer: MessageWriter;
  /** Give each to its consumer's declaration (`gate`): research and personalization. */
  readonly gates: Readonly<Record<ProviderRole, ProviderGate>>;
  readonly status: ProviderStatusReader;
  /** Stops the watches and timers; the NATS connection is the caller's. */
  close(): void;
}

export interface ResilientProvidersOptions {
  readonly config?: ResilienceConfig;
  /** The providers' KV bucket; default `aga-providers`. */
  readonly bucket?: string;
  readonly log: Log;
}

export async function createResilientProviders(
  nc: NatsConnection,
  inner: { readonly research: ResearchProvider; readonly writer: MessageWriter },
  options: ResilientProvidersOptions,
): Promise<ResilientProviders> {
  const config = options.config ?? {};
  const { log } = options;
  const shared = { ...(options.bucket === undefined ? {} : { bucket: options.bucket }), log };
  const board = await NatsProviderStatus.open(nc, shared);
  const budget = await NatsRateBudget.open(nc, shared).catch((error: unknown) => {
    board.close();
    throw error;
  });
  const closeShared = () => {
    board.close();
    budget.close();
  };
  const probeIntervalMs = config.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  const resilienceOf = (role: ProviderRole, rpm: number) => {
    const limiter = createProviderLimiter({
      role,
      budget,
      log,
      settings: {
        ...(rpm === 0 ? {} : { rpm }),
        // Unset: the limiter's default, which depends on whether there is a rate cap.
        ...(config.initialConcurrency === undefined ? {} : { initialConcurrency: config.initialConcurrency }),
        maxConcurrency: config.maxConcurrency ?? DEFAULT_LIMITER_SETTINGS.maxConcurrency,
        slowCallMs: config.slowCallMs ?? DEFAULT_LIMITER_SETTINGS.slowCallMs,
      },
    });
    const breaker = new ProviderBreaker(role, config.breaker);
    return { breaker, resilience: new ProviderResilience({ role, breaker, limiter, board, probeIntervalMs, log }) };
  };
  let research: ReturnType<typeof resilienceOf>;
  let personalization: ReturnType<typeof resilienceOf>;
  try {
    research = resilienceOf('research', config.researchRpm ?? DEFAULT_RESEARCH_RPM);
    personalization = resilienceOf('personalization', config.personalizationRpm ?? DEFAULT_PERSONALIZATION_RPM);
  } catch (error) {
    // A setting out of range: nothing may keep watching.
    closeShared();
    throw error;
  }

  return {
    research: new ResilientResearchProvider(inner.research, research.resilience),
    writer: new ResilientMessageWriter(inner.writer, personalization.resilience),
    gates: { research: research.resilience.gate, personalization: personalization.resilience.gate },
    status: board,
    close() {
      for (const { breaker, resilience } of [research, personalization]) {
        resilience.close();
        breaker.close();
      }
      closeShared();
    },
  };
}
