/**
 * Every outside API a process calls, each behind its resilience (resilient-api.ts), over the state
 * the processes share on one NATS KV bucket: the rate budgets, the pauses and the circuit
 * records. A new API (a webhook sender, a CRM) is one more spec: it gets its breaker, its share
 * of a rate cap, adaptive concurrency, its timeout, the account-level pause and its consumer's
 * gate, with nothing to write.
 *
 * One call per process; every process of a deployment must use the same bucket and the same
 * name for the same API (the name keys the shared state).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Log } from '../../ports/logger.port.ts';
import type { ApiStatusReader, OutsideApi, OutsideApiName } from '../../ports/outside-api.port.ts';
import { NatsRateBudget } from '../nats/api-budget.ts';
import { NatsPauseBoard } from '../nats/api-status.ts';
import { ResilientApi, type OutsideApiSpec } from './resilient-api.ts';

export type { BreakerSettings } from './breaker.ts';
export { DEFAULT_BREAKER_SETTINGS } from './breaker.ts';
export { DEFAULT_LIMITER_SETTINGS } from './limiter.ts';
export { DEFAULT_PROBE_INTERVAL_MS, OUT_OF_CREDIT_REASON, pauseReason, ResilientApi, type OutsideApiSpec } from './resilient-api.ts';

export interface OutsideApis {
  /** The API of that name; throws for a name no spec gave. */
  get(name: OutsideApiName): OutsideApi;
  /** The status of every API in the specs, in their order. */
  readonly status: ApiStatusReader;
  /** Stops the watches and timers; the NATS connection is the caller's. */
  close(): void;
}

export interface OutsideApisOptions {
  /** The KV bucket of the shared state; default `aga-providers`. */
  readonly bucket?: string | undefined;
  readonly log: Log;
}

export async function createOutsideApis(nc: NatsConnection, specs: readonly OutsideApiSpec[], options: OutsideApisOptions): Promise<OutsideApis> {
  const names = specs.map((spec) => spec.name);
  const repeated = names.find((name, index) => names.indexOf(name) !== index);
  if (repeated !== undefined) throw new RangeError(`two outside API specs are named ${JSON.stringify(repeated)}`);
  const { log } = options;
  const shared = { ...(options.bucket === undefined ? {} : { bucket: options.bucket }), apis: names, log };
  const board = await NatsPauseBoard.open(nc, shared);
  const budget = await NatsRateBudget.open(nc, shared).catch((error: unknown) => {
    board.close();
    throw error;
  });
  const apis = new Map<OutsideApiName, ResilientApi>();
  const close = () => {
    for (const api of apis.values()) api.close();
    board.close();
    budget.close();
  };
  try {
    for (const spec of specs) apis.set(spec.name, new ResilientApi({ spec, board, budget, log }));
  } catch (error) {
    // A setting out of range: nothing may keep watching.
    close();
    throw error;
  }
  return {
    get(name) {
      const api = apis.get(name);
      if (api === undefined) throw new RangeError(`no outside API named ${JSON.stringify(name)}: known are ${names.join(', ')}`);
      return api;
    },
    status: board,
    close,
  };
}
