/** A dependency the service cannot work without (PostgreSQL, NATS). `check` rejects when it is not reachable. */
export interface ReadinessProbe {
  readonly name: string;
  check(signal: AbortSignal): Promise<void>;
}
