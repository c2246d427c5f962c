/** The kernel's assembly of consumer declarations: roles, settings, topology, runnable consumers, stages and campaign options. */
import { describe, expect, it } from 'vitest';
import type { LeadSettled } from '../../../domain/campaigns/events.ts';
import { DEFAULT_KPI_RATES } from '../../../domain/campaigns/run.ts';
import { PermanentFailure, RetryLater, type PullGate } from '../../../ports/event-consumer.port.ts';
import { ApiPaused, OutsideApiError } from '../../../ports/outside-api.port.ts';
import { InvalidCampaignOption } from '../../../ports/submit-campaign.port.ts';
import { decide } from '../../../ports/unit-of-work.port.ts';
import { CONSUMERS as PIPELINE } from '../../../src/app/consumers/index.ts';
import { completionEvents } from '../../../src/app/consumers/lead-events.ts';
import {
  campaignOptionChecker,
  campaignOptionFields,
  consumedEvents,
  consumerSettings,
  declaredVariables,
  enabledConsumers,
  leadStages,
  PROCESS_ROLES,
  roleNames,
  runnableConsumers,
  topologyOf,
  type ApiDirectory,
} from '../../../src/app/kernel/assemble.ts';
import { declareConsumer, type AnyConsumer } from '../../../src/app/kernel/declaration.ts';
import { flag, httpUrl, text } from '../../../src/app/kernel/variables.ts';
import { handlerContext, inMemoryPipeline, logged, personalizingRun, portCatalog } from '../../support/fakes/index.ts';

/** The pipeline's consumers but its own webhook: this test declares one of its own, to see the kernel use a declaration's every field. */
const CONSUMERS = PIPELINE.filter((consumer) => consumer.name !== 'webhook');

const SETTINGS = { ackWaitMs: 30_000, maxDeliver: 3, backoffMs: [1_000], maxAckPending: 10, maxHandlerMs: 60_000 };

/** A webhook consumer of `run.completed`, enabled by its secret, with a campaign option. */
const webhook = declareConsumer({
  name: 'webhook',
  summary: 'posts each completed run to the campaign owner\'s URL',
  subscribes: ['run.completed'],
  settings: SETTINGS,
  callsApi: 'webhook',
  uses: ['notifier'],
  variables: {
    secret: text('WEBHOOK_SECRET', 'signs the posts', { secret: true }),
    verbose: flag('WEBHOOK_VERBOSE', 'logs every post', false),
    fallback: httpUrl('WEBHOOK_FALLBACK_URL', 'where posts go without a campaign URL'),
  },
  enabled: (settings) => settings.secret !== undefined,
  disabledHint: 'set WEBHOOK_SECRET',
  campaignOptions: [
    {
      field: 'webhook_url',
      description: 'where to post the completed run',
      check(value, ports, settings) {
        if (!value.startsWith('https://')) return Promise.reject(new InvalidCampaignOption('webhook_url must be an https:// URL'));
        // What the check was given, so the test can see it: only its ports, its own settings.
        return Promise.resolve(`${value}#${Object.keys(ports).join(',')}#${String(settings.verbose)}`);
      },
    },
  ],
  create: () => ({ handle: () => Promise.resolve(null) }),
});

const apis: ApiDirectory = {
  gate: (api): PullGate => ({ wait: () => Promise.resolve(api === 'research' ? 1 : Infinity) }),
  maxConcurrency: (api) => (api === 'research' ? 40 : 24),
};

describe('roles, settings and topology', () => {
  it('has a role per process kind and per consumer', () => {
    expect(roleNames(CONSUMERS)).toEqual([...PROCESS_ROLES, 'extraction', 'research', 'personalization', 'projection']);
    expect(roleNames([...CONSUMERS, webhook])).toContain('webhook');
  });

  it("parses each consumer's variables, reports every problem by variable, and enables by them", () => {
    const consumers = [...CONSUMERS, webhook];
    expect(declaredVariables(consumers).map((variable) => variable.name)).toEqual(['WEBHOOK_SECRET', 'WEBHOOK_VERBOSE', 'WEBHOOK_FALLBACK_URL']);

    const bad = consumerSettings(consumers, { WEBHOOK_VERBOSE: 'maybe', WEBHOOK_FALLBACK_URL: 'ftp://x' });
    expect(bad.problems).toEqual(['WEBHOOK_VERBOSE: must be true or false', 'WEBHOOK_FALLBACK_URL: must be an http:// or https:// URL']);

    const off = consumerSettings(consumers, {});
    expect(off.problems).toEqual([]);
    expect(enabledConsumers(consumers, off.settings).map((consumer) => consumer.name)).toEqual(['extraction', 'research', 'personalization', 'projection']);
    const on = consumerSettings(consumers, { WEBHOOK_SECRET: ' s3cret ', WEBHOOK_VERBOSE: 'yes' });
    expect(on.settings.get('webhook')).toEqual({ secret: 's3cret', verbose: true, fallback: undefined });
    expect(enabledConsumers(consumers, on.settings)).toContain(webhook);
  });

  it('provisions each consumer with its settings, its concurrency from its API when it sets none, and overrides', () => {
    const byName = (topology: ReturnType<typeof topologyOf>) => Object.fromEntries(topology.map((consumer) => [consumer.name, consumer]));
    const withApis = byName(topologyOf(CONSUMERS, { apis, overrides: { projection: { ackWaitMs: 5_000 } } }));
    expect(withApis.research).toMatchObject({ events: ['lead.extracted'], settings: { concurrency: 40, maxAckPending: 512, ackWaitMs: 120_000 } });
    expect(withApis.personalization?.settings.concurrency).toBe(24);
    expect(withApis.extraction?.settings.concurrency).toBe(4); // declared
    expect(withApis.projection?.settings).toMatchObject({ concurrency: 16, ackWaitMs: 5_000, maxDeliver: 10 });
    expect(withApis.projection?.events).toEqual(['lead.personalized', 'lead.needs_review', 'lead.failed']);
    // Without the APIs, a consumer that sets none runs the default 16.
    expect(byName(topologyOf(CONSUMERS)).research?.settings.concurrency).toBe(16);
  });

  it('derives the events the relay holds back and the stages the reconciler watches from the enabled consumers', () => {
    expect(Object.fromEntries(consumedEvents(CONSUMERS))).toEqual({
      'campaign.submitted': ['extraction'],
      'lead.extracted': ['research'],
      'lead.researched': ['personalization'],
      'lead.personalized': ['projection'],
      'lead.needs_review': ['projection'],
      'lead.failed': ['projection'],
    });
    expect(consumedEvents([...CONSUMERS, webhook]).get('run.completed')).toEqual(['webhook']);
    expect(leadStages(CONSUMERS)).toEqual([
      { status: 'pending', event: 'lead.extracted', apis: ['research'] },
      { status: 'researched', event: 'lead.researched', apis: ['personalization'] },
      { status: 'personalized', event: 'lead.personalized', apis: [] },
      { status: 'needs_review', event: 'lead.needs_review', apis: [] },
      { status: 'failed', event: 'lead.failed', apis: [] },
    ]);
    expect(leadStages(CONSUMERS.filter((consumer) => consumer.name !== 'research')).map((stage) => stage.status)).not.toContain('pending');
  });
});

describe('runnableConsumers', () => {
  it('commits a decision, then runs its `after` with the committed result', async () => {
    const p = inMemoryPipeline();
    const { run, pending } = await personalizingRun(p, ['a@example.com']);
    await p.uow.commit(p.store.saveFailed(pending[0]!, run.runId, 'gave up'));
    await p.uow.commit(p.store.countOutcome(pending[0]!, run.runId, DEFAULT_KPI_RATES));
    p.outbox.clear();
    const seen: unknown[] = [];
    const completer = declareConsumer({
      name: 'completer',
      summary: 'ends runs',
      subscribes: ['lead.personalized', 'lead.needs_review', 'lead.failed'],
      settings: SETTINGS,
      uses: ['projectionStore'],
      create: ({ projectionStore }) => ({
        handle: (event: LeadSettled) =>
          Promise.resolve(
            decide(projectionStore.completeIfSettled(event.run_id), {
              events: completionEvents,
              // Runs after the commit: the run has ended and its event is stored.
              after: (completion) => seen.push({ completion, status: p.store.run(event.run_id)?.status, events: p.outbox.events().length }),
            }),
          ),
      }),
    });
    const { catalog } = portCatalog(p);
    const [runnable] = await runnableConsumers([completer], { ports: catalog, settings: new Map() });

    await runnable!.handle({ type: 'lead.failed', run_id: run.runId, lead_id: pending[0]! }, handlerContext());

    expect(seen).toEqual([{ completion: expect.objectContaining({ runId: run.runId }) as unknown, status: 'failed', events: 1 }]);
    expect(p.outbox.events('run.completed')).toHaveLength(1);
  });

  it('does not run `after` when the commit fails, and lets the failure through', async () => {
    const p = inMemoryPipeline();
    const afters: unknown[] = [];
    const consumer = declareConsumer({
      name: 'c',
      summary: 's',
      subscribes: ['lead.personalized', 'lead.needs_review', 'lead.failed'],
      settings: SETTINGS,
      uses: ['projectionStore'],
      create: ({ projectionStore }) => ({ handle: (event: LeadSettled) => Promise.resolve(decide(projectionStore.completeIfSettled(event.run_id), { after: (result) => afters.push(result) })) }),
    });
    const [runnable] = await runnableConsumers([consumer], { ports: portCatalog(p).catalog, settings: new Map() });
    p.uow.failCommits(() => new Error('database down'));
    await expect(runnable!.handle({ type: 'lead.failed', run_id: crypto.randomUUID(), lead_id: 'x' }, handlerContext())).rejects.toThrow('database down');
    expect(afters).toEqual([]);
  });

  it('commits a decision again while the database is unavailable, without handling the event again', async () => {
    const p = inMemoryPipeline();
    const { run, pending } = await personalizingRun(p, ['a@example.com']);
    let handled = 0;
    const consumer = declareConsumer({
      name: 'c',
      summary: 's',
      subscribes: ['lead.failed'],
      settings: SETTINGS,
      uses: ['leadWork'],
      create: ({ leadWork }) => ({
        handle: (event: LeadSettled) => {
          handled += 1; // the paid call, in a real consumer
          return Promise.resolve(decide(leadWork.saveFailed(event.lead_id, event.run_id, 'gave up')));
        },
      }),
    });
    const unavailable = new Error('connect ECONNREFUSED');
    const [runnable] = await runnableConsumers([consumer], { ports: portCatalog(p).catalog, settings: new Map(), isUnavailable: (error) => error === unavailable });
    let refusals = 2;
    p.uow.failCommits(() => (refusals-- > 0 ? unavailable : undefined));
    const context = handlerContext();
    await runnable!.handle({ type: 'lead.failed', run_id: run.runId, lead_id: pending[0]! }, context);
    expect(handled).toBe(1);
    expect(p.store.lead(pending[0]!)?.status).toBe('failed');
    expect(logged(context.log, 'committing the decision again', 'warn')).toHaveLength(1);

    // Any other failure, or a delivery that has ended, is let through at once.
    p.uow.failCommits(() => new Error('constraint violated'));
    await expect(runnable!.handle({ type: 'lead.failed', run_id: run.runId, lead_id: pending[0]! }, handlerContext())).rejects.toThrow('constraint violated');
    const aborted = new AbortController();
    aborted.abort();
    p.uow.failCommits(() => unavailable);
    await expect(runnable!.handle({ type: 'lead.failed', run_id: run.runId, lead_id: pending[0]! }, handlerContext({ signal: aborted.signal }))).rejects.toBe(unavailable);
  });

  it('builds each consumer from exactly the ports it uses, each port once', async () => {
    const p = inMemoryPipeline();
    const { catalog, built } = portCatalog(p);
    const projection = CONSUMERS.find((consumer) => consumer.name === 'projection')!;
    await runnableConsumers([projection, projection], { ports: catalog, settings: new Map() });
    expect([...built].sort()).toEqual(['kpiRates', 'notifier', 'projectionStore', 'uow']);
  });

  it('runs the real projection end to end: counts, completes and notifies after the commit', async () => {
    const p = inMemoryPipeline();
    const { run, pending } = await personalizingRun(p, ['a@example.com']);
    await p.uow.commit(p.store.saveFailed(pending[0]!, run.runId, 'gave up'));
    p.outbox.clear();
    const consumers = await runnableConsumers(CONSUMERS, { ports: portCatalog(p).catalog, settings: new Map(), apis });
    const projection = consumers.find((consumer) => consumer.name === 'projection')!;
    await projection.handle({ type: 'lead.failed', run_id: run.runId, lead_id: pending[0]! }, handlerContext());
    expect(p.store.run(run.runId)?.status).toBe('failed');
    expect(p.outbox.events()).toEqual([{ type: 'run.completed', run_id: run.runId, campaign_id: run.campaignId, user_id: run.userId, status: 'failed' }]);
    expect(p.notifier.notified).toEqual([run.runId, run.runId]);
  });

  it("gives up through the handler's giveUp, committing its decision; without one, logs and drops the event", async () => {
    const p = inMemoryPipeline();
    const { run, pending } = await personalizingRun(p, ['a@example.com']);
    p.outbox.clear();
    const consumers = await runnableConsumers([...CONSUMERS, webhook], { ports: portCatalog(p).catalog, settings: new Map(), apis });
    const research = consumers.find((consumer) => consumer.name === 'research')!;
    await research.giveUp({ type: 'lead.extracted', run_id: run.runId, lead_id: pending[0]! }, 'provider unavailable', handlerContext({ deliveryCount: 6 }));
    expect(p.store.lead(pending[0]!)).toMatchObject({ status: 'failed', error: 'research failed after 6 attempts: provider unavailable' });
    expect(p.outbox.events()).toEqual([{ type: 'lead.failed', run_id: run.runId, lead_id: pending[0]! }]);

    const context = handlerContext({ deliveryCount: 3 });
    const event = { type: 'run.completed' as const, run_id: run.runId, campaign_id: run.campaignId, user_id: run.userId, status: 'completed' as const };
    await expect(consumers.find((consumer) => consumer.name === 'webhook')!.giveUp(event, 'timeout', context)).resolves.toBeUndefined();
    expect(logged(context.log, 'this consumer has no giveUp', 'error')[0]?.fields).toEqual({ delivery: 3 });
  });

  it("classifies failures by the consumer's API, by default, or by its own classification; gates API consumers", async () => {
    const p = inMemoryPipeline();
    const custom = declareConsumer({
      name: 'custom',
      summary: 's',
      subscribes: ['run.completed'],
      settings: SETTINGS,
      uses: [],
      classify: () => ({ action: 'give_up' }),
      create: () => ({ handle: () => Promise.resolve(null) }),
    });
    const consumers = await runnableConsumers([...CONSUMERS, custom], { ports: portCatalog(p).catalog, settings: new Map(), apis });
    const byName = (name: string) => consumers.find((consumer) => consumer.name === name)!;

    const research = byName('research');
    expect(research.classify(new ApiPaused('research', 'out_of_credit', 'paused', 30_000))).toEqual({ action: 'wait', afterMs: 30_000 });
    expect(research.classify(new OutsideApiError('research', 'rejected', 'HTTP 400'))).toEqual({ action: 'give_up' });
    expect(research.classify(new OutsideApiError('research', 'unavailable', 'HTTP 503'))).toEqual({ action: 'retry' });
    expect(await research.gate?.wait(new AbortController().signal)).toBe(1);

    const projection = byName('projection');
    expect(projection.gate).toBeUndefined();
    expect(projection.classify(new PermanentFailure('no'))).toEqual({ action: 'give_up' });
    expect(projection.classify(new RetryLater('later', 5_000))).toEqual({ action: 'retry', afterMs: 5_000 });
    // No API of its own, so another API's pushback is just a failure to retry with the consumer's backoff.
    expect(projection.classify(new ApiPaused('research', 'out_of_credit', 'paused', 30_000))).toEqual({ action: 'retry' });

    expect(byName('custom').classify(new Error('anything'))).toEqual({ action: 'give_up' });
  });

  it('refuses a consumer of an outside API when no APIs are given', async () => {
    const p = inMemoryPipeline();
    await expect(runnableConsumers(CONSUMERS, { ports: portCatalog(p).catalog, settings: new Map() })).rejects.toThrow('calls the research API, but no outside APIs were given');
  });
});

describe('campaignOptionChecker', () => {
  const consumers: AnyConsumer[] = [...CONSUMERS, webhook];

  function checker(enabled: readonly AnyConsumer[]) {
    const p = inMemoryPipeline();
    const { settings } = consumerSettings(consumers, { WEBHOOK_SECRET: 's', WEBHOOK_VERBOSE: 'true' });
    return campaignOptionChecker(consumers, { enabled, ports: portCatalog(p).catalog, settings });
  }

  it('lists the declared options', () => {
    expect(campaignOptionFields(consumers)).toEqual([
      { field: 'skip_personalized_within_days', description: expect.stringContaining('personalized in any of your other campaigns') as string, consumer: 'extraction' },
      { field: 'webhook_url', description: 'where to post the completed run', consumer: 'webhook' },
    ]);
  });

  it("checks each value with its consumer's check, its ports and settings, and returns what to store", async () => {
    expect(await checker(consumers)({ webhook_url: 'https://hooks.example/a' })).toEqual({ webhook_url: 'https://hooks.example/a#notifier#true' });
    expect(await checker(consumers)({})).toEqual({});
  });

  it('refuses an unknown field, an invalid value, and an option of a consumer the configuration does not enable', async () => {
    await expect(checker(consumers)({ crm_id: '42' })).rejects.toThrow(new InvalidCampaignOption('crm_id is not a campaign option'));
    await expect(checker(consumers)({ webhook_url: 'http://hooks.example' })).rejects.toThrow(new InvalidCampaignOption('webhook_url must be an https:// URL'));
    await expect(checker(CONSUMERS)({ webhook_url: 'https://hooks.example/a' })).rejects.toThrow(
      new InvalidCampaignOption('webhook_url cannot be used: the webhook consumer is not enabled on this server (set WEBHOOK_SECRET)'),
    );
  });
});
