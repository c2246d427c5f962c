/**
 * `npm run migrate`: brings the database at DATABASE_URL up to the current schema, then exits
 * 0, or 1 when it could not (the reason is logged, the connection string never is).
 * The service also migrates at start-up; this is for deploy pipelines and first setups.
 */
import { createLogger } from '../adapters/logging/logger.ts';
import { createSql, DEFAULT_DATABASE_URL } from '../adapters/postgres/client.ts';
import { migrate } from '../adapters/postgres/migrate.ts';

// A blank variable (as a copied .env may have) counts as unset.
const logger = createLogger({ level: process.env.LOG_LEVEL || 'info' });
const sql = createSql(process.env.DATABASE_URL || DEFAULT_DATABASE_URL, { max: 1 });

try {
  await migrate(sql, logger);
} catch (error) {
  logger.error({ err: error }, 'migration failed');
  process.exitCode = 1;
} finally {
  await sql.end({ timeout: 5 });
}
