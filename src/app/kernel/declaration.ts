/**
 * A consumer is one declaration: its name (the durable consumer and the process role that runs
 * it), the events it subscribes to, its delivery settings, the outside API it calls, its own
 * configuration, whether that configuration enables it, the campaign options it reads, and a
 * factory that receives only the ports it uses. The list of declarations (consumers/index.ts) is
 * the only registry: roles, the JetStream topology, the runner, the configuration's
 * documentation and the README's table of consumers all derive from it (kernel/assemble.ts).
 */
import type { EventType } from '../../../domain/campaigns/events.ts';
import type { FailureVerdict, Handler } from '../../../ports/event-consumer.port.ts';
import type { PipelinePorts } from './ports.ts';
import type { Variables } from './variables.ts';

export { InvalidCampaignOption } from '../../../ports/submit-campaign.port.ts';

/** A consumer's delivery settings, each with its reason in the declaring module. */
export interface DeclaredSettings {
  /** Longer than the slowest expected handler; long handlers also send "working" heartbeats. */
  readonly ackWaitMs: number;
  /** Deliveries before the handler's `giveUp`. */
  readonly maxDeliver: number;
  /** Delay before redelivery n (the last value repeats). */
  readonly backoffMs: readonly number[];
  /** In-flight ceiling across all processes. */
  readonly maxAckPending: number;
  /** The longest one delivery's handler may run, heartbeats or not. */
  readonly maxHandlerMs: number;
  /**
   * Handlers at once per process. Default: for a consumer of an outside API, as many as that
   * API's limiter may let through (it, not the handler count, decides how many calls run); else 16.
   */
  readonly concurrency?: number;
}

/** The resilience an outside API of a consumer needs beyond the defaults. */
export interface ApiPolicy {
  /**
   * One circuit breaker per call target (e.g. a webhook's host) rather than one for the API, so
   * that one failing destination never holds the others back.
   */
  readonly breakerPerTarget?: boolean;
  /** Each call's timeout (default PROVIDER_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

/** A value a consumer reads from the campaign (e.g. `webhook_url`), sent as a form field when a run is submitted. */
export interface CampaignOption<U extends keyof PipelinePorts, S> {
  /** The form field and the key it is kept under on the campaign. */
  readonly field: string;
  readonly description: string;
  /**
   * Checks a submitted value and returns what to store; throws `InvalidCampaignOption` with a
   * message a person can act on (answered 400).
   */
  check(value: string, ports: Pick<PipelinePorts, U>, settings: S): Promise<string>;
}

export interface ConsumerDeclaration<T extends EventType, U extends keyof PipelinePorts, S> {
  /** The durable consumer's name and the role that runs it: letters, digits, `_` and `-`. */
  readonly name: string;
  /** One line for the README's table of consumers: what it does. */
  readonly summary: string;
  readonly subscribes: readonly T[];
  readonly settings: DeclaredSettings;
  /** The ports its factory receives. */
  readonly uses: readonly U[];
  /**
   * The outside API its handler calls: the runner pulls only while that API can take work, and
   * failures are classified as that API's (`apiFailureVerdict`) unless `classify` says otherwise.
   */
  readonly callsApi?: string;
  /** How the resilience wrapper treats that API, when it is not one of the providers (configured elsewhere). */
  readonly apiPolicy?: ApiPolicy;
  /** What a failure means for the message. Default: by `callsApi`'s classification, or retry. */
  readonly classify?: (error: unknown) => FailureVerdict;
  /** Its own environment variables, parsed at start-up into the settings its factory receives. */
  readonly variables?: Variables<S>;
  /** Whether the configuration enables it (default: always). A disabled consumer is neither provisioned nor run. */
  readonly enabled?: (settings: S) => boolean;
  /** Why it is disabled, for a person (e.g. "set WEBHOOK_SECRET"). */
  readonly disabledHint?: string;
  readonly campaignOptions?: readonly CampaignOption<U, S>[];
  create(ports: Pick<PipelinePorts, U>, settings: S): Handler<T>;
}

/** A declaration whose types are erased, so that declarations of different events, ports and settings share one list. */
export interface AnyConsumer {
  readonly name: string;
  readonly summary: string;
  readonly subscribes: readonly EventType[];
  readonly settings: DeclaredSettings;
  readonly uses: readonly (keyof PipelinePorts)[];
  readonly callsApi?: string;
  readonly apiPolicy?: ApiPolicy;
  readonly classify?: (error: unknown) => FailureVerdict;
  readonly variables?: Variables<Record<string, unknown>>;
  readonly enabled?: (settings: Record<string, unknown>) => boolean;
  readonly disabledHint?: string;
  readonly campaignOptions?: readonly CampaignOption<keyof PipelinePorts, Record<string, unknown>>[];
  create(ports: Partial<PipelinePorts>, settings: Record<string, unknown>): Handler<EventType>;
}

/**
 * Declares a consumer. Sound despite the erasure: the kernel hands `create` exactly the ports of
 * `uses` and the settings of `variables`, and the runner hands the handler only the events of
 * `subscribes`, which TypeScript cannot see through one shared list.
 */
export function declareConsumer<T extends EventType, U extends keyof PipelinePorts, S = Record<string, never>>(
  declaration: ConsumerDeclaration<T, U, S>,
): AnyConsumer {
  return declaration as unknown as AnyConsumer;
}
