/**
 * Test double (never used in production code): the context the runner hands a handler, with a
 * recording log and a signal the test controls.
 */
import type { HandlerContext } from '../../../ports/event-consumer.port.ts';
import { RecordingLog } from './log.ts';

export interface FakeHandlerContext extends HandlerContext {
  readonly log: RecordingLog;
}

export function handlerContext(options: { deliveryCount?: number; maxDeliver?: number; ackWaitMs?: number; log?: RecordingLog; signal?: AbortSignal } = {}): FakeHandlerContext {
  return {
    deliveryCount: options.deliveryCount ?? 1,
    maxDeliver: options.maxDeliver ?? 6,
    // Research's declared ack wait.
    ackWaitMs: options.ackWaitMs ?? 120_000,
    log: options.log ?? new RecordingLog(),
    signal: options.signal ?? new AbortController().signal,
  };
}
