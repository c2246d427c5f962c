/**
 * Test double (never used in production code): tracing that starts no span. Each `startTrace`
 * returns a carrier with a fresh, well-formed W3C `traceparent` and is recorded with its name and
 * attributes, so that a test can check which traces a use case started and that an event carries
 * the one started for it.
 */
import { randomBytes } from 'node:crypto';
import type { TraceCarrier, Tracing } from '../../../ports/tracing.port.ts';

export interface StartedTrace {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly carrier: TraceCarrier;
}

export class RecordingTracing implements Tracing {
  readonly started: StartedTrace[] = [];

  startTrace(name: string, attributes: Readonly<Record<string, string>>): TraceCarrier {
    const carrier = { traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01` };
    this.started.push({ name, attributes: { ...attributes }, carrier });
    return carrier;
  }
}
