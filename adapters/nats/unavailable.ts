/**
 * Whether an error from the NATS client means the broker is down or recovering (not connected, no
 * answer, a stream or consumer it lost and is being provisioned again), as opposed to a mistake:
 * the edge answers those with 503 and Retry-After, not 500.
 */
import { errors } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';

const LOST: readonly number[] = [JetStreamApiCodes.StreamNotFound, JetStreamApiCodes.ConsumerNotFound, JetStreamApiCodes.JetStreamNotEnabledForAccount];

export function isNatsUnavailable(error: unknown): boolean {
  return (
    error instanceof errors.ConnectionError ||
    error instanceof errors.ClosedConnectionError ||
    error instanceof errors.DrainingConnectionError ||
    error instanceof errors.TimeoutError ||
    error instanceof errors.NoRespondersError ||
    (error instanceof JetStreamApiError && LOST.includes(error.code)) ||
    (error instanceof Error && error.cause !== undefined && isNatsUnavailable(error.cause))
  );
}
