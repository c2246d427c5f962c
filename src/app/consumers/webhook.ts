/**
 * The completion webhook (`run.completed`): POSTs the finished run's summary to the campaign's
 * `webhook_url`, signed per Standard Webhooks, and shows the delivery on the run's status
 * (`webhook: { delivered_at, attempts, last_error, failed_at }`). Built only through the kernel:
 * this declaration, its port (ports/webhook-sender.port.ts) and its adapter (adapters/webhooks/).
 *
 * Every retry of one run's delivery carries the same `webhook-id`, so the receiver can drop a
 * duplicate however often it arrives (a crash after the POST and before the record, a redelivery).
 * A delivery recorded as done is never sent again.
 *
 * Settings:
 * - each attempt is bounded by the sender's 5 s timeout, so 30 s of ack wait and a minute per
 *   delivery are ample;
 * - ten deliveries with backoff of 5 s, 30 s, 2, 5, 10, 15, 20 and 30 minutes: a receiver that is
 *   down gets retries for about two hours (the ninth attempt comes after 82 minutes), then the
 *   delivery is given up and shown as failed;
 * - every failure is retried, a 4xx included (a receiver mid-deploy answers 404 for a while);
 *   an open circuit for the receiver's host counts as an attempt too, so a dead host ends;
 * - 10,000 in flight, 16 handlers per process: a delivery is one short POST, and the deliveries
 *   waiting out a backoff count as in flight.
 */
import type { RunCompleted } from '../../../domain/campaigns/events.ts';
import type { DeliveryLog } from '../../../ports/delivery-log.port.ts';
import { PermanentFailure, type FailureVerdict, type Handler, type HandlerContext } from '../../../ports/event-consumer.port.ts';
import { isPushback } from '../../../ports/outside-api.port.ts';
import type { CompletedRun, RunReader } from '../../../ports/run-reader.port.ts';
import { InvalidCampaignOption } from '../../../ports/submit-campaign.port.ts';
import { decide, type Decision, type UnitOfWork } from '../../../ports/unit-of-work.port.ts';
import { InvalidWebhookUrl, type WebhookSender } from '../../../ports/webhook-sender.port.ts';
import { declareConsumer } from '../kernel/declaration.ts';
import { flag, httpUrl, text } from '../kernel/variables.ts';

declare module '../kernel/ports.ts' {
  interface PipelinePorts {
    /** Signed webhook deliveries, behind the `webhook` API's resilience (a breaker per receiver host). */
    readonly webhooks: WebhookSender;
  }
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
/** The campaign option, and the key of the delivery on the run's status. */
export const WEBHOOK_URL_OPTION = 'webhook_url';
const CONSUMER = 'webhook';

export interface WebhookSettings {
  /** WEBHOOK_SECRET: `whsec_` + base64; unset, webhooks are off. */
  readonly secret: string | undefined;
  readonly allowPrivateNetworks: boolean;
  /** PUBLIC_BASE_URL: makes the body's URLs absolute. */
  readonly publicBaseUrl: string | undefined;
}

export const webhook = declareConsumer({
  name: CONSUMER,
  summary: "POSTs a signed `run.completed` to the campaign's `webhook_url` (Standard Webhooks), shown on the run's status",
  subscribes: ['run.completed'],
  settings: {
    ackWaitMs: 30 * SECOND,
    maxDeliver: 10,
    backoffMs: [5 * SECOND, 30 * SECOND, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 20 * MINUTE, 30 * MINUTE],
    // Deliveries waiting out a long backoff stay pending in the broker (a nak with a delay is not
    // acked), so the ceiling must exceed the failing deliveries that may wait at once, or they
    // would hold every other webhook back; the handlers per process bound the work.
    maxAckPending: 10_000,
    maxHandlerMs: MINUTE,
    concurrency: 16,
  },
  callsApi: 'webhook',
  apiPolicy: { breakerPerTarget: true, timeoutMs: 10 * SECOND },
  classify: webhookVerdict,
  uses: ['uow', 'runs', 'deliveries', 'webhooks'],
  variables: {
    secret: text('WEBHOOK_SECRET', 'Signs completion webhooks (Standard Webhooks: `whsec_` + base64 of 24 to 64 random bytes). Unset: webhooks are off and `webhook_url` is refused.', {
      secret: true,
      check: checkSecret,
    }),
    allowPrivateNetworks: flag(
      'WEBHOOK_ALLOW_PRIVATE_NETWORKS',
      'true lets webhook URLs reach loopback and private addresses: for local use and tests only. Default false.',
      false,
    ),
    publicBaseUrl: httpUrl('PUBLIC_BASE_URL', "The API's public URL, e.g. https://api.example.com: makes the webhook body's results_url and export_url absolute. Unset: paths."),
  },
  enabled: (settings) => settings.secret !== undefined,
  disabledHint: 'set WEBHOOK_SECRET',
  campaignOptions: [
    {
      field: WEBHOOK_URL_OPTION,
      description: 'receives a signed POST when each run of the campaign ends',
      async check(value, { webhooks }) {
        try {
          return await webhooks.checkUrl(value);
        } catch (error) {
          if (error instanceof InvalidWebhookUrl) throw new InvalidCampaignOption(error.message);
          throw error;
        }
      },
    },
  ],
  create: (ports, settings) => new DeliverRunWebhook(ports, settings),
});

/** Every failure is retried on the consumer's backoff, until the last delivery gives it up. */
function webhookVerdict(error: unknown): FailureVerdict {
  if (error instanceof PermanentFailure) return { action: 'give_up' };
  return { action: 'retry' };
}

function checkSecret(value: string): string | undefined {
  const problem = 'must be whsec_ followed by the base64 of 24 to 64 random bytes';
  if (!value.startsWith('whsec_')) return problem;
  try {
    const base64 = value.slice('whsec_'.length);
    const decoded = atob(base64);
    // Canonical base64 only (what the sender's own parser accepts), 24 to 64 bytes.
    const unpadded = base64.replace(/={1,2}$/, '');
    const canonical = btoa(decoded).replace(/=+$/, '') === unpadded && (base64 === unpadded || base64.length % 4 === 0);
    return canonical && decoded.length >= 24 && decoded.length <= 64 ? undefined : problem;
  } catch {
    return problem;
  }
}

export interface DeliverRunWebhookDeps {
  readonly uow: UnitOfWork;
  readonly runs: RunReader;
  readonly deliveries: DeliveryLog;
  readonly webhooks: WebhookSender;
}

export class DeliverRunWebhook implements Handler<'run.completed'> {
  readonly #deps: DeliverRunWebhookDeps;
  readonly #settings: WebhookSettings;

  constructor(deps: DeliverRunWebhookDeps, settings: WebhookSettings) {
    this.#deps = deps;
    this.#settings = settings;
  }

  async handle(event: RunCompleted, context: HandlerContext): Promise<Decision | null> {
    const { uow, runs, deliveries, webhooks } = this.#deps;
    const run = await runs.completedRun(event.run_id);
    const url = run?.options[WEBHOOK_URL_OPTION];
    if (run === null || url === undefined) return null;
    const record = await deliveries.delivery(run.runId, CONSUMER);
    // Delivered (or given up) already: a redelivery of the event sends nothing.
    if (record?.deliveredAt != null || record?.failedAt != null) return null;

    const message = { id: webhookId(run.runId), body: JSON.stringify(webhookBody(run, this.#settings.publicBaseUrl)) };
    try {
      await webhooks.send(url, message, context.signal);
    } catch (error) {
      // The attempt is shown on the run's status; a refusal before any request (the receiver's
      // circuit open) is shown too, as it is why nothing arrives. Counting it must not hide the error.
      if (!context.signal.aborted) {
        await uow.commit(deliveries.recordAttempt(run, CONSUMER, reasonOf(error, isPushback(error)))).catch(() => {});
      }
      throw error;
    }
    return decide(deliveries.recordAttempt(run, CONSUMER, null), {
      after: () => context.log.info({ attempt: (record?.attempts ?? 0) + 1 }, 'webhook delivered'),
    });
  }

  giveUp(event: RunCompleted, reason: string, context: HandlerContext): Promise<Decision> {
    return Promise.resolve(
      decide(this.#deps.deliveries.recordGivenUp({ runId: event.run_id, userId: event.user_id }, CONSUMER, reason), {
        after: () => context.log.warn({ reason }, 'webhook given up after every delivery'),
      }),
    );
  }
}

/** The same on every attempt for the run: Standard Webhooks ids may not hold a `.`. */
export function webhookId(runId: string): string {
  return `run_completed_${runId}`;
}

/** The body: what the run's status says of the ended run, and where its results are. */
export function webhookBody(run: CompletedRun, publicBaseUrl: string | undefined) {
  const base = publicBaseUrl?.replace(/\/+$/, '') ?? '';
  return {
    type: 'run.completed',
    run_id: run.runId,
    campaign_id: run.campaignId,
    status: run.status,
    counts: run.counts,
    cost_usd: Number(run.costUsd),
    results_url: `${base}/api/campaigns/results/${run.campaignId}`,
    export_url: `${base}/api/campaigns/export/${run.campaignId}`,
    completed_at: run.completedAt,
  };
}

/** The attempt's error as the run's owner reads it: the sender's messages hold a status and a fixed reason only. */
function reasonOf(error: unknown, pushback: boolean): string {
  const message = error instanceof Error ? error.message : String(error);
  return pushback ? `${message} (not sent)` : message;
}
