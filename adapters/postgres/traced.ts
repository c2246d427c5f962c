import { SpanKind, type Attributes } from '@opentelemetry/api';
import {
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_SYSTEM_NAME,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import { withSpan } from '../telemetry/tracing.ts';

/**
 * Runs one store operation in a client span, child of the active one (the consumed message's, or
 * the request's). Attributes are ids and counts only, never lead data.
 */
export function traced<T>(operation: string, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  return withSpan(
    `postgres ${operation}`,
    { [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL, [ATTR_DB_OPERATION_NAME]: operation, ...attributes },
    work,
    SpanKind.CLIENT,
  );
}
