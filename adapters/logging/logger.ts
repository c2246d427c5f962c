import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/**
 * Paths that must never reach a log line: credentials and lead personal data. pino replaces
 * them with "[redacted]" wherever a caller passes them in a log object.
 */
export const REDACTED_PATHS = [
  'authorization',
  'token',
  'accessToken',
  'apiKey',
  'password',
  'secret',
  'email',
  'phone',
  '*.authorization',
  '*.Authorization',
  '*.token',
  '*.accessToken',
  '*.apiKey',
  '*.password',
  '*.secret',
  '*.email',
  '*.phone',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
] as const;

export interface LoggerOptions {
  readonly level: string;
  /** Where lines go; standard output when absent. Tests pass a stream to read what was logged. */
  readonly destination?: DestinationStream;
}

/** The service's root logger: JSON lines, ISO times, secrets and personal data redacted. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'ai-growth-accelerator' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}

/**
 * Readable, coloured lines for a developer's terminal (`LOG_FORMAT=pretty`, set by `npm run dev`):
 * pino-pretty as a synchronous stream in this process, so nothing is lost when the process exits.
 * Loaded only when asked for; production writes JSON lines.
 */
export async function prettyDestination(): Promise<DestinationStream> {
  const { default: pretty } = await import('pino-pretty');
  return pretty({ colorize: process.stdout.isTTY, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
}

