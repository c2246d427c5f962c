/**
 * Test double (never used in production code): a `Log` that keeps every entry, with the fields of
 * its `child` bindings merged in, so that tests can assert on what a use case logged.
 */
import type { Log } from '../../../ports/logger.port.ts';

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** A Log that keeps every entry (child fields merged in), for assertions. */
export class RecordingLog implements Log {
  readonly entries: LogEntry[];
  readonly #bindings: Record<string, unknown>;

  constructor(entries: LogEntry[] = [], bindings: Record<string, unknown> = {}) {
    this.entries = entries;
    this.#bindings = bindings;
  }

  debug(fields: Record<string, unknown>, message: string): void {
    this.#record('debug', fields, message);
  }

  info(fields: Record<string, unknown>, message: string): void {
    this.#record('info', fields, message);
  }

  warn(fields: Record<string, unknown>, message: string): void {
    this.#record('warn', fields, message);
  }

  error(fields: Record<string, unknown>, message: string): void {
    this.#record('error', fields, message);
  }

  child(fields: Record<string, unknown>): RecordingLog {
    return new RecordingLog(this.entries, { ...this.#bindings, ...fields });
  }

  #record(level: LogEntry['level'], fields: Record<string, unknown>, message: string): void {
    this.entries.push({ level, message, fields: { ...this.#bindings, ...fields } });
  }
}

/** The entries of a level (all when absent) whose message contains `text`. */
export function logged(log: RecordingLog, text: string, level?: LogEntry['level']): LogEntry[] {
  return log.entries.filter((entry) => entry.message.includes(text) && (level === undefined || entry.level === level));
}
