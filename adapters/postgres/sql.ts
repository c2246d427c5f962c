/** SQL helpers the store adapters share: error codes, JSON values, id checks and deadlock retries. */
import type postgres from 'postgres';
import type { UsdAmount } from '../../domain/pricing/pricing.ts';
import type { OutputSpec } from '../../domain/personalization/outputs.ts';
import type { PaidCall } from '../../ports/lead-work-store.port.ts';
import type { Usage } from '../../ports/providers.port.ts';
import type { Sql } from './client.ts';

/** PostgreSQL's unique_violation. */
export const UNIQUE_VIOLATION = '23505';
/** PostgreSQL's deadlock_detected: it aborted this statement, which changed nothing, to break a cycle. */
const DEADLOCK_DETECTED = '40P01';
const DEADLOCK_RETRIES = 3;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids reach the queries from URLs: anything that is not a uuid matches no row (instead of a cast error). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** The PostgreSQL error code of a failed statement, if it has one. */
export function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

/** Runs `work` again, up to three times, when PostgreSQL aborted it to break a deadlock. */
export async function retryOnDeadlock<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (attempt > DEADLOCK_RETRIES || errorCode(error) !== DEADLOCK_DETECTED) throw error;
    }
  }
}

/** Our readonly domain objects are plain JSON; the driver's `json()` wants its own mutable JSON type. */
export function toJson(value: unknown): Parameters<Sql['json']>[0] {
  return value as Parameters<Sql['json']>[0];
}

/**
 * The `usage` update that appends one paid call to the lead's log of calls, `usage.calls`
 * (`usage` on the right is the row's value before the update).
 */
export function callEntry(sql: postgres.Sql | postgres.TransactionSql, call: Omit<PaidCall, 'costUsd'>, costUsd: UsdAmount | undefined) {
  const entry = {
    stage: call.stage,
    model: call.model,
    ...(call.usage === undefined ? {} : { inputTokens: call.usage.inputTokens, outputTokens: call.usage.outputTokens }),
    costUsd: costUsd ?? null,
  };
  return sql`jsonb_build_object('calls', coalesce(usage -> 'calls', '[]'::jsonb) || ${sql.json([entry])})`;
}

/** The `usage` column's entry for one stage's saved call: the token counts only, nothing else the adapter attached. */
export function usageEntry(stage: 'research' | 'personalization', usage: Usage | undefined): Record<string, { inputTokens: number; outputTokens: number }> {
  return usage === undefined ? {} : { [stage]: { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens } };
}

/** A custom output as `campaign_runs.outputs` and `prompt_templates.outputs` store it: the API's snake_case shape. */
export interface StoredOutputSpec {
  readonly name: string;
  readonly instruction: string;
  readonly max_words: number;
}

export function toStoredOutputs(specs: readonly OutputSpec[]): StoredOutputSpec[] {
  return specs.map((spec) => ({ name: spec.name, instruction: spec.instruction, max_words: spec.maxWords }));
}

export function fromStoredOutputs(stored: readonly StoredOutputSpec[] | null | undefined): OutputSpec[] {
  return (stored ?? []).map((spec) => ({ name: spec.name, instruction: spec.instruction, maxWords: spec.max_words }));
}
