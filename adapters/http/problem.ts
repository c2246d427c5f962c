/**
 * Error responses as RFC 9457 problem details (`application/problem+json`). Every non-2xx answer
 * goes through `problem()`, so clients get one shape and no stack trace or internal message
 * ever leaves the process.
 */
import type { Context } from 'hono';
import type { AppEnv } from './context.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const TITLES = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
} as const;

/** The statuses this API answers with a problem. */
export type ProblemStatus = keyof typeof TITLES;

export interface ProblemOptions {
  /**
   * A URI naming the kind of problem, for problems a client handles by kind (a quota) rather
   * than by status; with its own `title`. Default `about:blank` and the status's title.
   */
  readonly type?: { readonly uri: string; readonly title: string };
  /** Extension members added to the body, e.g. `code` for import errors. */
  readonly members?: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * An expected failure raised by a middleware or a handler (bad input, missing credentials).
 * `detail` is shown to the client as is, so it must be written for them.
 */
export class ProblemError extends Error {
  readonly status: ProblemStatus;
  readonly detail: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The body's `type`, `title` and extension members (see ProblemOptions). */
  readonly options: Pick<ProblemOptions, 'type' | 'members'>;

  constructor(
    status: ProblemStatus,
    detail: string,
    headers: Readonly<Record<string, string>> = {},
    options: Pick<ProblemOptions, 'type' | 'members'> = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
    this.status = status;
    this.detail = detail;
    this.headers = headers;
    this.options = options;
  }
}

/**
 * The problem response. `type` is `about:blank` (the status says what kind of problem it is, and
 * `code` refines it where clients need to branch); `instance` is the request path; `request_id`
 * lets a user quote the request when reporting it.
 *
 * A request with a body is answered with `Connection: close`: a problem is often found before the
 * body is read (401, 413, 415), and unread upload bytes left on a kept-alive connection would
 * otherwise hold it up or break the client's next request on it.
 */
export function problem(c: Context<AppEnv>, status: ProblemStatus, detail: string, options: ProblemOptions = {}): Response {
  const body = {
    type: options.type?.uri ?? 'about:blank',
    title: options.type?.title ?? TITLES[status],
    status,
    detail,
    instance: c.req.path,
    request_id: c.get('requestId'),
    ...options.members,
  };
  const connection = c.req.raw.body === null ? {} : { Connection: 'close' };
  return c.body(JSON.stringify(body), status, { ...options.headers, ...connection, 'Content-Type': PROBLEM_CONTENT_TYPE });
}
