/**
 * In-memory test doubles of the ports (never used in production code): fast unit tests of the use
 * cases run against these instead of PostgreSQL, NATS and the providers. See each module.
 */
export * from './broker.ts';
export * from './campaign-store.ts';
export * from './clock.ts';
export * from './edge.ts';
export * from './files.ts';
export * from './handler-context.ts';
export * from './log.ts';
export * from './notifications.ts';
export * from './outbox.ts';
export * from './pipeline.ts';
export * from './providers.ts';
export * from './tracing.ts';
export * from './unit-of-work.ts';
export * from './webhooks.ts';
