/**
 * Whether an error from the PostgreSQL client means the database is down or restarting (no
 * connection, a connection cut, the server shutting down or starting), as opposed to a mistake:
 * the edge answers those with 503 and Retry-After, not 500.
 */
/** postgres.js's own connection codes, Node's socket errors, and SQLSTATE classes 08 and 57P. */
const CONNECTION_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

export function isPostgresUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error) || typeof error.code !== 'string') return false;
  const { code } = error;
  return CONNECTION_CODES.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03'].includes(code);
}
