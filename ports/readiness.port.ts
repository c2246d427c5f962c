/** A dependency the service cannot work without (PostgreSQL, NATS). `check` rejects when it is not reachable. */
export interface ReadinessProbe {
  readonly name: string;
  check(signal: AbortSignal): Promise<void>;
}

/**
 * Thrown by a probe whose dependency answers but cannot serve yet (the broker lost the stream and
 * it is being provisioned again): `/readyz` shows it as `recovering`, not `unreachable`.
 */
export class RecoveringError extends Error {
  override readonly name = 'RecoveringError';
}
