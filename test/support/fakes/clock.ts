/**
 * Test double (never used in production code): a clock that moves only when the test moves it.
 * The in-memory store stamps rows with it (`updated_at`), and the in-memory outbox makes postponed
 * events due by it, so lease and retry logic is tested without waiting.
 */

/** What the in-memory doubles read the time from: epoch milliseconds. */
export interface Clock {
  now(): number;
}

/** 2026-01-01T00:00:00Z: a fixed start, so that test output does not depend on the day it runs. */
export const FAKE_EPOCH = Date.UTC(2026, 0, 1);

export class FakeClock implements Clock {
  #now: number;

  constructor(start: number = FAKE_EPOCH) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Moves the clock forward by `ms` (never back). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('a fake clock only moves forward');
    this.#now += ms;
  }
}
