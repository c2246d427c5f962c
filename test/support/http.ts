/**
 * The real HTTP edge on a real listening server (port 0), wired like src/compose.ts with the
 * real adapters: the Supabase token verifier, the CSV import, and readiness probes against the
 * real PostgreSQL and NATS. Tests talk to it with fetch.
 */
import { createServer } from 'node:net';
import { inject } from 'vitest';
import { CsvLeadFileReader } from '../../adapters/csv/csv-lead-file-reader.ts';
import { SupabaseTokenVerifier } from '../../adapters/auth/supabase-token-verifier.ts';
import { createHttpApp } from '../../adapters/http/app.ts';
import { startHttpServer } from '../../adapters/http/server.ts';
import { createLogger, type Logger } from '../../adapters/logging/logger.ts';
import { connectNats, NatsReadinessProbe } from '../../adapters/nats/connection.ts';
import { createSql } from '../../adapters/postgres/client.ts';
import { PostgresReadinessProbe } from '../../adapters/postgres/readiness.ts';
import { DEFAULT_IMPORT_LIMITS } from '../../domain/leads/import-error.ts';
import type { PreviewImport } from '../../ports/preview-import.port.ts';
import type { ReadinessProbe } from '../../ports/readiness.port.ts';
import { PreviewImportService } from '../../src/app/preview-import.ts';
import { TEST_JWT_SECRET } from './tokens.ts';

/** The one browser origin the test server allows. */
export const ALLOWED_ORIGIN = 'https://app.example.test';

export interface TestServerOptions {
  /** Replaces the real probes, e.g. with one that points at a closed port. */
  readonly readiness?: readonly ReadinessProbe[];
  /** A logger writing to a stream the test reads; silent otherwise. */
  readonly logger?: Logger;
  /** SUPABASE_URL, for asymmetric tokens (see startJwksServer). */
  readonly supabaseUrl?: string;
  /** Replaces the real import, to drive the edge's handling of failures it cannot provoke. */
  readonly previewImport?: PreviewImport;
}

export interface TestServer {
  /** e.g. http://127.0.0.1:41234 */
  readonly baseUrl: string;
  close(): Promise<void>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const logger = options.logger ?? createLogger({ level: 'silent' });
  const probes = options.readiness ? { probes: options.readiness, close: async () => {} } : await realReadinessProbes(logger);
  const limits = DEFAULT_IMPORT_LIMITS;
  const app = createHttpApp({
    logger,
    corsOrigins: [ALLOWED_ORIGIN],
    tokenVerifier: new SupabaseTokenVerifier({ jwtSecret: TEST_JWT_SECRET, supabaseUrl: options.supabaseUrl }),
    readiness: probes.probes,
    previewImport: options.previewImport ?? new PreviewImportService({ reader: new CsvLeadFileReader(), limits }),
    limits,
  });
  const server = await startHttpServer(app, { port: 0, hostname: '127.0.0.1', shutdownGraceMs: 1_000 });
  return {
    baseUrl: `http://127.0.0.1:${server.port}`,
    async close() {
      await server.close();
      await probes.close();
    },
  };
}

export interface Probes {
  readonly probes: readonly ReadinessProbe[];
  close(): Promise<void>;
}

/** The service's own probes, against the PostgreSQL and NATS the global setup found. */
export async function realReadinessProbes(logger: Logger): Promise<Probes> {
  const sql = createSql(inject('databaseUrl'), { max: 1 });
  const nc = await connectNats({ url: inject('natsUrl'), name: 'http-tests', logger });
  return {
    probes: [new PostgresReadinessProbe(sql), new NatsReadinessProbe(nc)],
    async close() {
      await nc.close();
      await sql.end({ timeout: 1 });
    },
  };
}

/** A real PostgreSQL probe aimed at a port nothing listens on. */
export async function closedPortPostgresProbe(): Promise<Probes> {
  const sql = createSql(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, {
    max: 1,
    connectTimeoutSeconds: 1,
  });
  return { probes: [new PostgresReadinessProbe(sql)], close: () => sql.end({ timeout: 1 }) };
}

/** A port that was free a moment ago and has nothing listening on it now. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface PreviewRequest {
  readonly token?: string;
  /** The file's content; with `file: false` no csv_file field is sent. */
  readonly content?: string | Uint8Array;
  readonly file?: boolean;
  readonly fileType?: string;
  readonly fileName?: string;
  readonly demo?: string;
  readonly query?: string;
}

/** POST /api/campaigns/preview as a browser form upload would. */
export function postPreview(baseUrl: string, request: PreviewRequest): Promise<Response> {
  const form = new FormData();
  if (request.file !== false) {
    const content = request.content ?? '';
    form.append(
      'csv_file',
      new File([typeof content === 'string' ? content : new Uint8Array(content)], request.fileName ?? 'leads.csv', {
        type: request.fileType ?? 'text/csv',
      }),
    );
  }
  if (request.demo !== undefined) form.append('demo', request.demo);
  return fetch(`${baseUrl}/api/campaigns/preview${request.query ?? ''}`, {
    method: 'POST',
    headers: request.token === undefined ? {} : { Authorization: `Bearer ${request.token}` },
    body: form,
  });
}
