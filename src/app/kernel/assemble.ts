/**
 * Everything derived from the list of consumer declarations: the roles a process may run, the
 * configuration they declare, which consumers the configuration enables, the JetStream topology a
 * process provisions, the consumers the runner runs, the events the outbox relay must not publish
 * before their consumer exists, the stages the reconciler watches, and the checks of campaign
 * options. Nothing here knows a particular consumer.
 */
import { delay } from './delay.ts';
import type { EventType } from '../../../domain/campaigns/events.ts';
import type { LeadStatus } from '../../../domain/campaigns/run.ts';
import {
  defaultVerdict,
  type ConsumerSettings,
  type ConsumerTopology,
  type FailureVerdict,
  type HandlerContext,
  type PullGate,
  type RunnableConsumer,
} from '../../../ports/event-consumer.port.ts';
import type { Decision, UnitOfWork } from '../../../ports/unit-of-work.port.ts';
import { InvalidCampaignOption } from '../../../ports/submit-campaign.port.ts';
import type { AnyConsumer } from './declaration.ts';
import type { PortCatalog } from './ports.ts';
import { readVariables, type Variable } from './variables.ts';
import { apiFailureVerdict } from '../../../ports/outside-api.port.ts';

/** The roles that are not consumers: the HTTP edge, the outbox relay, and the reconciler. */
export const PROCESS_ROLES = ['edge', 'relay', 'reconciler'] as const;

/** Handlers at once per process for a consumer of no outside API that sets none. */
const DEFAULT_CONCURRENCY = 16;

/** Every role a process may run: the edge, the relay, the reconciler, and one per consumer. */
export function roleNames(consumers: readonly AnyConsumer[]): string[] {
  return [...PROCESS_ROLES, ...consumers.map((consumer) => consumer.name)];
}

/** Every environment variable the consumers declare. */
export function declaredVariables(consumers: readonly AnyConsumer[]): Variable<unknown>[] {
  return consumers.flatMap((consumer) => Object.values(consumer.variables ?? {}));
}

/** Each consumer's settings from its variables, by consumer name; every problem in `problems`. */
export function consumerSettings(
  consumers: readonly AnyConsumer[],
  env: Readonly<Record<string, string | undefined>>,
): { settings: ReadonlyMap<string, Record<string, unknown>>; problems: string[] } {
  const settings = new Map<string, Record<string, unknown>>();
  const problems: string[] = [];
  for (const consumer of consumers) {
    const read = readVariables(consumer.variables ?? {}, env);
    settings.set(consumer.name, read.settings);
    problems.push(...read.problems);
  }
  return { settings, problems };
}

/** The consumers the configuration enables (whatever the roles of this process). */
export function enabledConsumers(consumers: readonly AnyConsumer[], settings: ReadonlyMap<string, Record<string, unknown>>): AnyConsumer[] {
  return consumers.filter((consumer) => consumer.enabled?.(settings.get(consumer.name) ?? {}) ?? true);
}

/** Per-consumer changes to the declared settings (configuration such as CONSUMER_ACK_WAIT_MS, or tests). */
export type SettingsOverrides = { readonly [name: string]: Partial<ConsumerSettings> | undefined };

/** What the kernel needs of the outside APIs: a consumer's gate and how many calls its limiter may run. */
export interface ApiDirectory {
  gate(api: string): PullGate;
  maxConcurrency(api: string): number;
}

/** The durable consumers to provision for `consumers`, with their effective settings. */
export function topologyOf(consumers: readonly AnyConsumer[], options: { overrides?: SettingsOverrides; apis?: ApiDirectory } = {}): ConsumerTopology[] {
  return consumers.map((consumer) => ({ name: consumer.name, events: consumer.subscribes, settings: effectiveSettings(consumer, options) }));
}

function effectiveSettings(consumer: AnyConsumer, { overrides, apis }: { overrides?: SettingsOverrides; apis?: ApiDirectory }): ConsumerSettings {
  const { concurrency, ...declared } = consumer.settings;
  const byApi = consumer.callsApi === undefined || apis === undefined ? undefined : apis.maxConcurrency(consumer.callsApi);
  return { ...declared, concurrency: concurrency ?? byApi ?? DEFAULT_CONCURRENCY, ...overrides?.[consumer.name] };
}

export interface RunnableOptions {
  readonly ports: PortCatalog;
  readonly settings: ReadonlyMap<string, Record<string, unknown>>;
  readonly overrides?: SettingsOverrides;
  /** Required when a consumer calls an outside API. */
  readonly apis?: ApiDirectory;
  /**
   * Errors that mean the database is down or restarting (default: none). A decision whose commit
   * fails with one is committed again, with backoff, until it goes through or the delivery ends:
   * its outside call is made and paid for, and a redelivery would pay for it again.
   */
  readonly isUnavailable?: (error: unknown) => boolean;
}

/** The longest wait between two commits of a decision while the database is unavailable. */
const COMMIT_RETRY_MAX_MS = 5_000;

/**
 * The consumers as the runner runs them: each declaration's handler built from exactly the ports
 * it uses, its decisions committed through the unit of work (the outbox) before the message is
 * acknowledged, its failures classified by its declaration.
 */
export async function runnableConsumers(consumers: readonly AnyConsumer[], options: RunnableOptions): Promise<RunnableConsumer[]> {
  const uow = await options.ports.get('uow');
  return Promise.all(consumers.map((consumer) => runnable(consumer, uow, options)));
}

async function runnable(consumer: AnyConsumer, uow: UnitOfWork, options: RunnableOptions): Promise<RunnableConsumer> {
  const handler = consumer.create(await options.ports.pick(consumer.uses), options.settings.get(consumer.name) ?? {});
  const { callsApi } = consumer;
  if (callsApi !== undefined && options.apis === undefined) throw new Error(`consumer ${consumer.name} calls the ${callsApi} API, but no outside APIs were given`);
  const classify: (error: unknown) => FailureVerdict = consumer.classify ?? (callsApi === undefined ? defaultVerdict : apiFailureVerdict);
  const isUnavailable = options.isUnavailable ?? (() => false);
  const commit = async (decision: Decision | null, context: HandlerContext) => {
    if (decision === null) return;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const result = await uow.commit(decision.change, decision.events);
        if (attempt > 1) context.log.info({ attempts: attempt }, 'decision committed once the database was back');
        decision.after(result);
        return;
      } catch (error) {
        if (!isUnavailable(error) || context.signal.aborted) throw error;
        if (attempt === 1) context.log.warn({ error: error instanceof Error ? error.message : String(error) }, 'the database is unavailable: committing the decision again');
        await delay(Math.min(250 * 2 ** attempt, COMMIT_RETRY_MAX_MS), context.signal);
      }
    }
  };
  return {
    name: consumer.name,
    events: consumer.subscribes,
    settings: effectiveSettings(consumer, options),
    handle: async (event, context) => commit(await handler.handle(event, context), context),
    giveUp: async (event, reason: string, context: HandlerContext) => {
      if (handler.giveUp === undefined) {
        context.log.error({ delivery: context.deliveryCount }, 'given up, and this consumer has no giveUp: the event is dropped');
        return;
      }
      await commit(await handler.giveUp(event, reason, context), context);
    },
    classify,
    ...(callsApi === undefined ? {} : { gate: options.apis!.gate(callsApi) }),
  };
}

/**
 * For each event type, the enabled consumers that receive it: the relay holds an event back until
 * every one of them has its durable consumer (interest retention keeps a message only for the
 * consumers that exist when it is stored).
 */
export function consumedEvents(enabled: readonly AnyConsumer[]): ReadonlyMap<EventType, readonly string[]> {
  const consumed = new Map<EventType, string[]>();
  for (const consumer of enabled) {
    for (const type of consumer.subscribes) consumed.set(type, [...(consumed.get(type) ?? []), consumer.name]);
  }
  return consumed;
}

/** A lead status whose work the reconciler may re-drive: the event that carries it on, and the API its consumers call. */
export interface Stage {
  readonly status: LeadStatus;
  readonly event: EventType;
  /** The outside APIs the consumers of `event` call: while one is paused, the stage waits. */
  readonly apis: readonly string[];
}

const STAGE_EVENTS: readonly (readonly [LeadStatus, EventType])[] = [
  ['pending', 'lead.extracted'],
  ['researched', 'lead.researched'],
  ['personalized', 'lead.personalized'],
  ['needs_review', 'lead.needs_review'],
  ['failed', 'lead.failed'],
];

/** The lead stages of the enabled consumers, with the APIs each depends on. */
export function leadStages(enabled: readonly AnyConsumer[]): Stage[] {
  return STAGE_EVENTS.flatMap(([status, event]) => {
    const consumers = enabled.filter((consumer) => consumer.subscribes.includes(event));
    if (consumers.length === 0) return [];
    return [{ status, event, apis: consumers.flatMap((consumer) => (consumer.callsApi === undefined ? [] : [consumer.callsApi])) }];
  });
}

/** Every campaign option of the declared consumers: its field, and whether (and why not) it is accepted here. */
export interface CampaignOptionField {
  readonly field: string;
  readonly description: string;
  readonly consumer: string;
}

export function campaignOptionFields(consumers: readonly AnyConsumer[]): CampaignOptionField[] {
  return consumers.flatMap((consumer) =>
    (consumer.campaignOptions ?? []).map((option) => ({ field: option.field, description: option.description, consumer: consumer.name })),
  );
}

/**
 * Checks the campaign options of a submission: each value by its consumer's check; an option of a
 * consumer the configuration does not enable is refused (it would never be used).
 */
export function campaignOptionChecker(
  consumers: readonly AnyConsumer[],
  options: { readonly enabled: readonly AnyConsumer[]; readonly ports: PortCatalog; readonly settings: ReadonlyMap<string, Record<string, unknown>> },
): (values: Readonly<Record<string, string>>) => Promise<Record<string, string>> {
  return async (values) => {
    const checked: Record<string, string> = {};
    for (const [field, value] of Object.entries(values)) {
      const consumer = consumers.find((candidate) => candidate.campaignOptions?.some((option) => option.field === field));
      const option = consumer?.campaignOptions?.find((candidate) => candidate.field === field);
      if (consumer === undefined || option === undefined) throw new InvalidCampaignOption(`${field} is not a campaign option`);
      if (!options.enabled.includes(consumer)) {
        throw new InvalidCampaignOption(`${field} cannot be used: the ${consumer.name} consumer is not enabled on this server${consumer.disabledHint === undefined ? '' : ` (${consumer.disabledHint})`}`);
      }
      const ports = await options.ports.pick(consumer.uses);
      checked[field] = await option.check(value, ports, options.settings.get(consumer.name) ?? {});
    }
    return checked;
  };
}
