/**
 * The tracing the use cases ask for explicitly. Everything else (a span per consumed message,
 * per database write and per provider call; context in message headers) is done by adapters.
 */
export interface Tracing {
  /**
   * Runs `work` as the root span of a new trace, linked to the current span. Used once per lead,
   * so that each lead has one trace from extraction to projection.
   */
  inNewTrace<T>(name: string, attributes: Record<string, string>, work: () => Promise<T>): Promise<T>;
}
