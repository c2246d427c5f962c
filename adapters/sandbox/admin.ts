/**
 * Runtime control of a running sandbox, for the chaos harness (`npm run chaos`), which runs the
 * sandbox as a separate process and must change what it does mid-campaign:
 *
 * - switchable faults: the whole FaultSettings (faults.ts) replaced at runtime, as when a
 *   provider starts failing and recovers (a storm, credit spent then topped up, a key revoked
 *   then fixed). A replacement starts fresh random streams, rate windows and credit; the fault
 *   counters add up across replacements.
 * - a billing ledger: every 200 a real provider would bill, per lead (keyed by the lead's company,
 *   unique per lead in the harness's files) and per stage: research answers, first drafts and
 *   rewrites (a rewrite after the quality gates is a paid call the pipeline means to make, so it is
 *   counted apart). A malformed 200 is billed too, but it is the provider's fault that the call
 *   is made again, so it is counted apart as well.
 *
 * Over HTTP (`npm run sandbox -- --admin`), on the sandbox's own port:
 *   GET    /admin/faults            { settings, counts }
 *   PUT    /admin/faults            body: FaultSettings (replaces them); 400 when one is invalid
 *   GET    /admin/billing?prefix=p  { leads: { [company]: BillingEntry } } for companies starting with p
 *   DELETE /admin/billing           forgets every entry (answers { leads: {} })
 */
import { isRewriteRequest, requestCompany } from './answers.ts';
import { sandboxFaults, type FaultKind, type FaultSettings, type SandboxFaults } from './faults.ts';
import type { SandboxAdminHandler, SandboxInterceptor, SandboxReply, SandboxRequest } from './server.ts';

export interface SwitchableFaults {
  /** One interceptor that delegates to the current settings' interceptors: pass to `startSandbox`. */
  readonly interceptors: readonly SandboxInterceptor[];
  readonly settings: FaultSettings;
  /** What every setting so far answered, summed. */
  counts(): Record<FaultKind, number>;
  /** Replaces the settings; throws RangeError (and keeps the old ones) when one is invalid. */
  set(settings: FaultSettings): void;
  /** The current settings' runtime switches (key, model, credit). */
  readonly current: SandboxFaults;
}

export function switchableFaults(initial: FaultSettings = {}): SwitchableFaults {
  let settings = initial;
  let current = sandboxFaults(initial);
  const retired: Record<FaultKind, number> = { unauthorized: 0, unknownModel: 0, rateLimited: 0, outOfCredit: 0, timedOut: 0, failed: 0, malformed: 0, fabricated: 0 };
  const interceptor: SandboxInterceptor = async (request) => {
    // The set in force when the request arrived answers it whole, even if it is replaced meanwhile.
    for (const step of current.interceptors) {
      const reply = await step(request);
      if (reply !== undefined) return reply;
    }
    return undefined;
  };
  return {
    interceptors: [interceptor],
    get settings() {
      return settings;
    },
    get current() {
      return current;
    },
    counts() {
      const sum = { ...retired };
      for (const [kind, count] of Object.entries(current.counts) as [FaultKind, number][]) sum[kind] += count;
      return sum;
    },
    set(next) {
      const replacement = sandboxFaults(next);
      for (const [kind, count] of Object.entries(current.counts) as [FaultKind, number][]) retired[kind] += count;
      current = replacement;
      settings = next;
    },
  };
}

export interface BillingEntry {
  /** Well-formed research answers. */
  research: number;
  /** Well-formed first drafts of the opening line. */
  drafts: number;
  /** Well-formed rewrites (the writer's second attempt after the quality gates). */
  rewrites: number;
  /** Malformed 200s, either endpoint: billed, but the provider's fault. */
  malformed: number;
}

export interface BillingLedger {
  /** Pass as `startSandbox({ onAnswer })`. */
  record(request: SandboxRequest, reply: SandboxReply): void;
  /** Entries whose company starts with `prefix` (all without one). */
  entries(prefix?: string): Record<string, BillingEntry>;
  reset(): void;
}

export function billingLedger(): BillingLedger {
  const byCompany = new Map<string, BillingEntry>();
  return {
    record(request, reply) {
      const company = requestCompany(request.body);
      if (company === undefined) return;
      let entry = byCompany.get(company);
      if (entry === undefined) {
        entry = { research: 0, drafts: 0, rewrites: 0, malformed: 0 };
        byCompany.set(company, entry);
      }
      if (isMalformed(request, reply)) entry.malformed += 1;
      else if (request.endpoint === 'responses') entry.research += 1;
      else if (isRewriteRequest(request.body)) entry.rewrites += 1;
      else entry.drafts += 1;
    },
    entries(prefix = '') {
      return Object.fromEntries([...byCompany].filter(([company]) => company.startsWith(prefix)).map(([company, entry]) => [company, { ...entry }]));
    },
    reset() {
      byCompany.clear();
    },
  };
}

/** The two malformed shapes answers.ts writes: research with no output, a chat reply that is not the JSON asked for. */
function isMalformed(request: SandboxRequest, reply: SandboxReply): boolean {
  const body = reply.body as Record<string, unknown> | null;
  if (request.endpoint === 'responses') return !Array.isArray(body?.output) || body.output.length === 0;
  const content = (body?.choices as { message?: { content?: unknown } }[] | undefined)?.[0]?.message?.content;
  if (typeof content !== 'string') return true;
  try {
    JSON.parse(content);
    return false;
  } catch {
    return true;
  }
}

/** The `/admin/...` routes over the switchable faults and the ledger. */
export function adminHandler(faults: SwitchableFaults, ledger: BillingLedger): SandboxAdminHandler {
  return ({ method, url, body }) => {
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case 'GET /admin/faults':
        return { status: 200, body: { settings: faults.settings, counts: faults.counts() } };
      case 'PUT /admin/faults':
        try {
          faults.set(body as FaultSettings);
        } catch (error) {
          if (!(error instanceof RangeError)) throw error;
          return problem(400, `invalid fault settings: ${error.message}`);
        }
        return { status: 200, body: { settings: faults.settings } };
      case 'GET /admin/billing':
        return { status: 200, body: { leads: ledger.entries(url.searchParams.get('prefix') ?? '') } };
      case 'DELETE /admin/billing':
        ledger.reset();
        return { status: 200, body: { leads: {} } };
      default:
        return problem(404, `no admin route ${route}: GET|PUT /admin/faults, GET|DELETE /admin/billing`);
    }
  };
}

function problem(status: number, message: string): SandboxReply {
  return { status, body: { error: { message, type: 'invalid_request_error', code: status === 404 ? 'not_found' : 'invalid_request' } } };
}
