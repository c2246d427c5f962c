/**
 * A known fault of the PostgreSQL driver (postgres.js 3.4.9, the latest release): when a
 * connection closes while a small write is buffered, a `setImmediate` it scheduled still runs and
 * calls `socket.write` on the socket it has just set to null. The TypeError is thrown from the
 * timer, outside any query's promise, so Node would end the process: every worker died whenever
 * PostgreSQL restarted (`npm run chaos`, scenario postgres-restart). The query it belonged to was
 * already rejected (CONNECTION_CLOSED) and is retried like any other failed write; the pool opens
 * a new connection. Upstream: porsager/postgres#1154 and #1208, fixes proposed in #1168 and #1209,
 * not released yet.
 */
export function isDriverNullSocketWrite(error: unknown): boolean {
  return (
    error instanceof TypeError &&
    /reading 'write'/.test(error.message) &&
    /at Immediate\.nextWrite \(.*[/\\]postgres[/\\]src[/\\]connection\.js/.test(error.stack ?? '')
  );
}
