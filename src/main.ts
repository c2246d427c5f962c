/**
 * Process entry point: reads the configuration, starts the system, and stops it cleanly on
 * SIGTERM/SIGINT (in-flight requests finish, NATS drains, the database pool closes, exit 0).
 */
import { ConfigError } from '../adapters/config/env.ts';
import { createLogger, prettyDestination } from '../adapters/logging/logger.ts';
import { loadSystemConfig, startSystem, startupHint } from './compose.ts';

let config;
try {
  config = loadSystemConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\nSee .env.example for every setting.\n`);
  process.exit(1);
}

const logger = createLogger({
  level: config.config.logLevel,
  ...(config.config.logFormat === 'pretty' ? { destination: await prettyDestination() } : {}),
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
  const hint = startupHint(error, config.config);
  if (hint !== undefined) {
    logger.fatal({ hint }, 'start-up failed');
    process.stderr.write(`${hint}\n`);
    process.exit(1);
  }
  logger.fatal({ err: error }, 'start-up failed');
  process.exit(1);
}
