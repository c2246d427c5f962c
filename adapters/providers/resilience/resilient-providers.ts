/**
 * The provider ports, decorated with resilience: each call waits for the limiter (a slot and its
 * turn in the shared rate budget), runs through the circuit breaker, and reports its latency or
 * 429 back to the limiter.
 *
 * A 402 pauses the provider for every process (the shared board) and is rethrown as
 * `ProviderPaused`: the message is retried later and never given up for it, and the consumer's
 * gate stops pulling until a probe call succeeds. Any success of a call that started after the
 * pause began ends it (a call that started before may have slipped in before the credit ran out,
 * so it proves nothing).
 *
 * A failure that opened the circuit, or failed its trial, is rethrown as `ProviderPaused` too:
 * during an outage no lead spends its deliveries. An isolated failure, with the circuit closed,
 * counts as usual, so a lead that always fails still ends.
 */
import type { Log } from '../../../ports/logger.port.ts';
import { ProviderPaused, type ProviderGate, type ProviderRole } from '../../../ports/provider-gate.port.ts';
import { ProviderError, type Draft, type LeadProfile, type MessageWriter, type Research, type ResearchProvider } from '../../../ports/providers.port.ts';
import type { BreakerState, ProviderBreaker } from './breaker.ts';
import { ResilienceGate } from './gate.ts';
import type { CallOutcome, ProviderLimiter } from './limiter.ts';
import type { ProviderBoard } from './shared-state.ts';

/** What a user is told while a provider is out of credit. */
export const OUT_OF_CREDIT_REASON = 'provider out of credit';

export interface ProviderResilienceOptions {
  readonly role: ProviderRole;
  readonly breaker: ProviderBreaker;
  readonly limiter: ProviderLimiter;
  readonly board: ProviderBoard;
  /** Between probe calls while the provider is paused (and the delay a refused message waits). */
  readonly probeIntervalMs: number;
  readonly log: Log;
}

/** The resilience of one provider: the call path the decorators share, and its consumer's gate. */
export class ProviderResilience {
  readonly #role: ProviderRole;
  readonly #breaker: ProviderBreaker;
  readonly #limiter: ProviderLimiter;
  readonly #board: ProviderBoard;
  readonly #probeIntervalMs: number;
  readonly #log: Log;
  readonly #stopWatching: () => void;
  /** When the current run of open/half-open states began; 0 while closed. */
  #circuitSince = 0;
  /** The consumer of this provider waits here before each pull. */
  readonly gate: ProviderGate;

  constructor(options: ProviderResilienceOptions) {
    this.#role = options.role;
    this.#breaker = options.breaker;
    this.#limiter = options.limiter;
    this.#board = options.board;
    this.#probeIntervalMs = options.probeIntervalMs;
    this.#log = options.log.child({ provider: options.role });
    this.gate = new ResilienceGate(options);
    this.#stopWatching = this.#breaker.onStateChange((state) => this.#circuitChanged(state));
  }

  async call<T>(call: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    // Refused before taking a turn in the rate budget, which another call can use.
    if (this.#breaker.isOpen) throw this.#breaker.openError();
    const permit = await this.#limiter.acquire(signal);
    const startedAt = Date.now();
    try {
      const result = await this.#breaker.fire(call, signal);
      permit.release({ kind: 'ok', latencyMs: Date.now() - startedAt });
      await this.#resumeIfPaused(startedAt);
      return result;
    } catch (error) {
      permit.release(outcomeOf(error));
      if (error instanceof ProviderError && error.failure === 'out_of_credit') {
        await this.#pause();
        throw new ProviderPaused(error.provider, 'out_of_credit', error.message, this.#probeIntervalMs);
      }
      // This failure opened the circuit, or failed its trial: an outage, not this lead's fault.
      if (error instanceof ProviderError && error.failure === 'unavailable' && !(error instanceof ProviderPaused) && this.#breaker.isOpen && !signal.aborted) {
        throw this.#breaker.openError(error);
      }
      throw error;
    }
  }

  /** Stops following the breaker; the breaker and limiter are closed by their owner. */
  close(): void {
    this.#stopWatching();
  }

  async #pause(): Promise<void> {
    if (this.#board.pauseOf(this.#role) !== undefined) return;
    try {
      await this.#board.pause(this.#role, OUT_OF_CREDIT_REASON, this.#probeIntervalMs);
      this.#log.warn({ probe_every_ms: this.#probeIntervalMs }, 'provider out of credit: paused until a probe call succeeds');
    } catch (error) {
      // The message still waits (ProviderPaused); the next 402 tries to record the pause again.
      this.#log.error({ error: messageOf(error) }, 'could not record the provider pause');
    }
  }

  async #resumeIfPaused(callStartedAt: number): Promise<void> {
    const pause = this.#board.pauseOf(this.#role);
    if (pause === undefined || callStartedAt < pause.since) return;
    try {
      await this.#board.resume(this.#role, pause);
      this.#log.info({ paused_ms: Date.now() - pause.since }, 'provider answers again: pause ended');
    } catch (error) {
      this.#log.error({ error: messageOf(error) }, 'could not end the provider pause');
    }
  }

  /** Logs the change and records it on the board for the status page. */
  #circuitChanged(state: BreakerState): void {
    if (state === 'half_open') {
      this.#log.info({}, 'circuit half-open: one trial call decides');
      return;
    }
    let record: { since: number; until: number } | null = null;
    if (state === 'open') {
      if (this.#circuitSince === 0) this.#circuitSince = Date.now();
      record = { since: this.#circuitSince, until: this.#breaker.halfOpenAt };
      this.#log.warn({ retry_in_ms: this.#breaker.halfOpenAt - Date.now() }, 'circuit opened: calls to the provider stop for a while');
    } else {
      this.#log.info({ open_ms: Date.now() - this.#circuitSince }, 'circuit closed: provider answers again');
      this.#circuitSince = 0;
    }
    this.#board.recordCircuit(this.#role, record).catch((error: unknown) => {
      this.#log.warn({ error: messageOf(error) }, 'could not record the circuit state');
    });
  }
}

export class ResilientResearchProvider implements ResearchProvider {
  readonly #inner: ResearchProvider;
  readonly #resilience: ProviderResilience;

  constructor(inner: ResearchProvider, resilience: ProviderResilience) {
    this.#inner = inner;
    this.#resilience = resilience;
  }

  research(input: { lead: LeadProfile; prompt?: string }, signal: AbortSignal): Promise<Research> {
    return this.#resilience.call((callSignal) => this.#inner.research(input, callSignal), signal);
  }
}

export class ResilientMessageWriter implements MessageWriter {
  readonly #inner: MessageWriter;
  readonly #resilience: ProviderResilience;

  constructor(inner: MessageWriter, resilience: ProviderResilience) {
    this.#inner = inner;
    this.#resilience = resilience;
  }

  write(input: { lead: LeadProfile; research: Research; prompt?: string }, signal: AbortSignal): Promise<Draft> {
    return this.#resilience.call((callSignal) => this.#inner.write(input, callSignal), signal);
  }
}

function outcomeOf(error: unknown): CallOutcome {
  if (error instanceof ProviderError && error.failure === 'rate_limited') {
    return { kind: 'rate_limited', retryAfterMs: error.retryAfterMs };
  }
  return { kind: 'failed' };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
