/**
 * Process entry point: reads the configuration, starts the system, and stops it cleanly on
 * SIGTERM/SIGINT (in-flight requests finish, NATS drains, the database pool closes, exit 0).
 */
import { ConfigError } from '../adapters/config/env.ts';
import { createLogger } from '../adapters/logging/logger.ts';
import { isDriverNullSocketWrite } from '../adapters/postgres/driver-faults.ts';
import { loadSystemConfig, startSystem } from './compose.ts';

let config;
try {
  config = loadSystemConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\nSee .env.example for every setting.\n`);
  process.exit(1);
}

const logger = createLogger({ level: config.config.logLevel });

// One known fault of the database driver is survivable (see driver-faults.ts): it is logged and
// the process goes on. Anything else uncaught ends the process, as Node would, once logged.
process.on('uncaughtException', (error) => {
  if (isDriverNullSocketWrite(error)) {
    logger.warn({ err: error }, 'the database driver wrote to a connection that had just closed; its query was rejected and is retried');
    return;
  }
  logger.fatal({ err: error }, 'uncaught exception');
  process.exit(1);
});

try {
  const system = await startSystem(config, logger);
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    system.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
} catch (error) {
  logger.fatal({ err: error }, 'start-up failed');
  process.exit(1);
}
