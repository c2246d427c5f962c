/**
 * The composition root: the one place that knows every adapter and wires it to the ports the
 * use cases and the HTTP edge need. Nothing else constructs an adapter.
 */
import type { Config } from '../adapters/config/env.ts';
import type { Logger } from '../adapters/logging/logger.ts';
import { createSql } from '../adapters/postgres/client.ts';
import { migrate } from '../adapters/postgres/migrate.ts';
import { PostgresReadinessProbe } from '../adapters/postgres/readiness.ts';
import { connectNats, NatsReadinessProbe } from '../adapters/nats/connection.ts';
import { SupabaseTokenVerifier } from '../adapters/auth/supabase-token-verifier.ts';
import { CsvLeadFileReader } from '../adapters/csv/csv-lead-file-reader.ts';
import { createHttpApp } from '../adapters/http/app.ts';
import { startHttpServer } from '../adapters/http/server.ts';
import { DEFAULT_IMPORT_LIMITS } from '../domain/leads/import-error.ts';
import { PreviewImportService } from './app/preview-import.ts';

export interface RunningSystem {
  /** The port the HTTP edge listens on (useful when PORT=0). */
  readonly port: number;
  /** Stops accepting requests, closes the broker and database connections. */
  stop(): Promise<void>;
}

export async function startSystem(config: Config, logger: Logger): Promise<RunningSystem> {
  const sql = createSql(config.databaseUrl);
  await migrate(sql, logger);

  const nc = await connectNats({ url: config.natsUrl, name: 'ai-growth-accelerator', logger });

  const limits = DEFAULT_IMPORT_LIMITS;
  const app = createHttpApp({
    logger,
    corsOrigins: config.corsOrigins,
    tokenVerifier: new SupabaseTokenVerifier({
      ...(config.supabaseJwtSecret === undefined ? {} : { jwtSecret: config.supabaseJwtSecret }),
      ...(config.supabaseUrl === undefined ? {} : { supabaseUrl: config.supabaseUrl }),
    }),
    readiness: [new PostgresReadinessProbe(sql), new NatsReadinessProbe(nc)],
    previewImport: new PreviewImportService({ reader: new CsvLeadFileReader(), limits }),
    limits,
  });
  const server = await startHttpServer(app, { port: config.port });
  logger.info({ port: server.port }, 'http edge listening');

  return {
    port: server.port,
    async stop() {
      await server.close();
      await nc.drain();
      await sql.end({ timeout: 5 });
    },
  };
}
