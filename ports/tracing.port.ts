/**
 * The tracing the use cases ask for explicitly. Everything else (a span per consumed message,
 * per database write and per outside call; context in message headers and outbox rows) is done
 * by adapters.
 */

/** A serialized trace context (W3C `traceparent`, ...): what travels with an event. */
export type TraceCarrier = Readonly<Record<string, string>>;

export interface Tracing {
  /**
   * Starts a new trace whose root span is linked to the current span, and returns its context
   * for an event to carry. Used once per lead, so that each lead has one trace from extraction to
   * projection. The root span ends at once: it marks where the lead's trace began.
   */
  startTrace(name: string, attributes: Readonly<Record<string, string>>): TraceCarrier;
}
