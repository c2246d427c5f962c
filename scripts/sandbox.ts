/**
 * Runs the sandbox provider on its own, for the benchmark or a service started elsewhere:
 *   npm run sandbox -- [--port 4010] [--host 127.0.0.1] [faults]
 * Point the service at it with PERPLEXITY_BASE_URL and OPENROUTER_BASE_URL set to the printed
 * URL and any non-empty PERPLEXITY_API_KEY / OPENROUTER_API_KEY. Stops on SIGINT or SIGTERM,
 * printing what it served and which faults it injected (one JSON line).
 *
 * Faults (adapters/sandbox/faults.ts says exactly how each behaves), for both endpoints:
 *   --rpm <n>              429 + retry-after beyond n requests in any 60 s (and ceil(n/60) in any second)
 *   --research-rpm <n>     overrides --rpm for POST /v1/responses
 *   --writer-rpm <n>       overrides --rpm for POST /v1/chat/completions
 *   --rpm-burst            let a whole minute's requests through at once (no per-second window)
 *   --latency-ms <median>  log-normal added latency (sigma 0.35)
 *   --error-rate <0..1>    500 / 503
 *   --timeout-rate <0..1>  no answer until the client gives up
 *   --malformed-rate <0..1> a 200 whose content breaks the expected shape
 *   --fabricate-rate <0..1> writer only: a line that adds an invented number, name or time to its
 *                          true fact (first drafts and rewrites alike), for the quality gates
 *   --credit <n>           402 after n calls (each endpoint its own account)
 *   --unauthorized         401 invalid_api_key on every request: a rejected key
 *   --unknown-model        404 model_not_found on every request: a retired model
 *   --seed <n>             the same random draws on every run
 * SIGUSR2 restores the key and the model (`kill -USR2 <pid>`), as when an operator fixes them:
 * the service's next probe call succeeds and its pause ends.
 *
 *   --admin                serve /admin/ on the same port: GET|PUT /admin/faults replaces the faults
 *                          above at runtime, GET|DELETE /admin/billing counts billed answers per lead
 *                          (adapters/sandbox/admin.ts; the chaos harness uses it). Local use only.
 */
import { parseArgs } from 'node:util';
import { adminHandler, billingLedger, switchableFaults } from '../adapters/sandbox/admin.ts';
import type { FaultSettings } from '../adapters/sandbox/faults.ts';
import { startSandbox } from '../adapters/sandbox/server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4010' },
    host: { type: 'string', default: '127.0.0.1' },
    rpm: { type: 'string' },
    'research-rpm': { type: 'string' },
    'writer-rpm': { type: 'string' },
    'rpm-burst': { type: 'boolean', default: false },
    'latency-ms': { type: 'string' },
    'error-rate': { type: 'string' },
    'timeout-rate': { type: 'string' },
    'malformed-rate': { type: 'string' },
    'fabricate-rate': { type: 'string' },
    credit: { type: 'string' },
    unauthorized: { type: 'boolean', default: false },
    'unknown-model': { type: 'boolean', default: false },
    seed: { type: 'string' },
    admin: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

/** A flag's number, or undefined when absent; exits with a message when it is not a number. */
function numberFlag(name: keyof typeof values): number | undefined {
  const raw = values[name];
  if (raw === undefined || typeof raw === 'boolean') return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value)) fail(`--${name} must be a number (got ${JSON.stringify(raw)})`);
  return value;
}

const port = numberFlag('port');
if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
  fail(`--port must be a whole number between 0 and 65535 (got ${JSON.stringify(values.port)})`);
}

const rpm = numberFlag('rpm');
const researchRpm = numberFlag('research-rpm') ?? rpm;
const writerRpm = numberFlag('writer-rpm') ?? rpm;
const latencyMs = numberFlag('latency-ms');
const errorRate = numberFlag('error-rate');
const timeoutRate = numberFlag('timeout-rate');
const malformedRate = numberFlag('malformed-rate');
const fabricateRate = numberFlag('fabricate-rate');
const credit = numberFlag('credit');
const seed = numberFlag('seed');
const settings: FaultSettings = {
  ...(researchRpm === undefined && writerRpm === undefined
    ? {}
    : { rpm: { ...(researchRpm === undefined ? {} : { responses: researchRpm }), ...(writerRpm === undefined ? {} : { chatCompletions: writerRpm }) } }),
  ...(values['rpm-burst'] ? { rpmBurst: true } : {}),
  ...(latencyMs === undefined ? {} : { latencyMs }),
  ...(errorRate === undefined ? {} : { errorRate }),
  ...(timeoutRate === undefined ? {} : { timeoutRate }),
  ...(malformedRate === undefined ? {} : { malformedRate }),
  ...(fabricateRate === undefined ? {} : { fabricateRate }),
  ...(credit === undefined ? {} : { credit }),
  ...(values.unauthorized ? { unauthorized: true } : {}),
  ...(values['unknown-model'] ? { unknownModel: true } : {}),
  ...(seed === undefined ? {} : { seed }),
};

let faults;
try {
  faults = switchableFaults(settings);
} catch (error) {
  fail(error instanceof RangeError ? `invalid fault flag: ${error.message}` : String(error));
}

const ledger = billingLedger();
const sandbox = await startSandbox({
  port,
  host: values.host,
  interceptors: faults.interceptors,
  ...(values.admin ? { admin: adminHandler(faults, ledger), onAnswer: (request, reply) => ledger.record(request, reply) } : {}),
});
console.log(`sandbox provider listening: ${sandbox.url}`);
console.log(`  research (Responses API):   POST ${sandbox.url}/responses`);
console.log(`  writer (chat completions):  POST ${sandbox.url}/chat/completions`);
console.log('  set PERPLEXITY_BASE_URL and OPENROUTER_BASE_URL to the URL above, with any non-empty API keys');
if (Object.keys(settings).length > 0) console.log(`  faults: ${JSON.stringify(settings)}`);
if (settings.unauthorized === true || settings.unknownModel === true) console.log(`  kill -USR2 ${process.pid} restores the key and the model`);
if (values.admin) console.log(`  admin: GET|PUT ${sandbox.url.replace(/\/v1$/, '')}/admin/faults, GET|DELETE .../admin/billing`);

process.on('SIGUSR2', () => {
  faults.current.restoreKey();
  faults.current.restoreModel();
  console.log('SIGUSR2: key and model restored');
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`${signal}: stopping the sandbox provider`);
    console.log(`sandbox summary: ${JSON.stringify({ requests: sandbox.stats.requests, faults: faults.counts() })}`);
    void sandbox.close().then(() => process.exit(0));
  });
}
