/** Turns whatever a request ended with into a problem response: `app.onError` and `app.notFound`. */
import type { ErrorHandler, NotFoundHandler } from 'hono';
import { ImportError, type ImportErrorCode } from '../../domain/leads/import-error.ts';
import { InvalidTokenError } from '../../ports/token-verifier.port.ts';
import type { AppEnv } from './context.ts';
import { problem, ProblemError, type ProblemStatus } from './problem.ts';

/** A file that is not a CSV is the wrong media type; a CSV we cannot import is unprocessable. */
const IMPORT_ERROR_STATUS: Readonly<Record<ImportErrorCode, ProblemStatus>> = {
  NOT_CSV: 415,
  INVALID_ENCODING: 415,
  FILE_TOO_LARGE: 413,
  EMPTY_FILE: 422,
  NO_HEADER: 422,
  NO_EMAIL_COLUMN: 422,
  NO_DATA_ROWS: 422,
  TOO_MANY_COLUMNS: 422,
  CELL_TOO_LARGE: 422,
  MALFORMED_CSV: 422,
  NO_VALID_LEADS: 422,
};

/** How long a client should wait before trying again when a dependency is down or recovering. */
const UNAVAILABLE_RETRY_AFTER_S = 5;

/**
 * The error handler. `isUnavailable` says which errors mean a dependency is down or recovering
 * (the database restarting, the broker unreachable or re-provisioning what it lost): those are a
 * 503 with Retry-After, which clients and load balancers retry, not a 500.
 */
export function errorHandler(isUnavailable: (error: unknown) => boolean = () => false): ErrorHandler<AppEnv> {
  return (err, c) => {
    if (err instanceof ProblemError) {
      return problem(c, err.status, err.detail, { headers: err.headers, ...err.options });
    }
    if (err instanceof ImportError) {
      // The code only: the message may quote the file's content.
      c.get('logger').info({ import_error: err.code }, 'import rejected');
      return problem(c, IMPORT_ERROR_STATUS[err.code], err.message, { members: { code: err.code, ...(err.report === undefined ? {} : { report: err.report }) } });
    }
    if (err instanceof InvalidTokenError) {
      return problem(c, 401, err.message, { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
    }
    if (isUnavailable(err)) {
      c.get('logger').warn({ err }, 'a dependency is unavailable');
      return problem(c, 503, 'The service is recovering from an outage of one of its dependencies. Try again in a few seconds.', {
        headers: { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_S) },
      });
    }
    c.get('logger').error({ err }, 'request failed');
    return problem(c, 500, 'The server could not complete the request. Quote the request id if you report this.');
  };
}

export const onError: ErrorHandler<AppEnv> = errorHandler();

export const notFound: NotFoundHandler<AppEnv> = (c) =>
  problem(c, 404, `No route for ${c.req.method} ${c.req.path}.`);
