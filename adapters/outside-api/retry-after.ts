/** How long an outside API asks a client to wait, from its answer's headers: shared by every protocol adapter. */

/**
 * The wait an outside API asks for: `retry-after-ms` (milliseconds), else `retry-after` as seconds
 * or an HTTP date. Undefined when absent or unreadable.
 */
export function retryAfterFrom(headers: HeaderSource, now: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms != null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms));
  const value = headers.get('retry-after')?.trim();
  if (value == null || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** What retryAfterFrom reads: a fetch `Headers` or anything with its `get`. */
export interface HeaderSource {
  get(name: string): string | null | undefined;
}
