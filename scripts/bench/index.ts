/**
 * `npm run bench`: throughput figures of the real system (HTTP edge, NATS JetStream, PostgreSQL,
 * the sandbox provider over HTTP), printed, not asserted.
 *
 *   npm run bench -- [--scenario provider|overhead|import|all] [--leads <n>]
 *                    [--rpm <n>] [--research-rpm <n>] [--writer-rpm <n>] [--latency-ms <median>]
 *                    [--profile]
 *
 * --leads sets the size of every scenario run (defaults: provider 300, overhead 5,000, import
 * 100,000 rows); --rpm, --research-rpm, --writer-rpm and --latency-ms shape the provider-bound
 * scenario's sandbox (defaults: research 600 rpm, the writer twice research's rate, 1,500 ms).
 * --rpm is the research account's tier, the limit that sets a campaign's pace in practice
 * (Perplexity's tiers are 50 to 2,000 rpm; OpenRouter sets no platform cap on paid models). The
 * writer needs about 1.25 calls a lead (a quarter of the sandbox's first drafts fail a quality gate
 * and are rewritten), so at an equal rate the writer, not research, would be the limit; pass
 * --writer-rpm to set it yourself. --profile records a V8 CPU
 * profile of each scenario process under .bench/profiles/ and prints where its CPU went.
 *
 * Needs PostgreSQL (DATABASE_URL, default local) and NATS (NATS_URL, default local); each
 * scenario creates and removes its own database and NATS namespace. Each scenario runs in a
 * process of its own (this script, forked), so CPU time and peak memory are that scenario's
 * alone; this process only collects the results and prints the table.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machine, type Machine } from './probes.ts';
import { profileSummary } from './profile.ts';
import {
  importScenario,
  overheadScenario,
  providerScenario,
  SCENARIOS,
  type ScenarioName,
  type ScenarioOptions,
  type ScenarioResult,
} from './scenarios.ts';

const DEFAULT_LEADS: Readonly<Record<ScenarioName, number>> = { provider: 300, overhead: 5000, import: 100_000 };
/** Set in a forked scenario process. */
const CHILD_FLAG = 'AGA_BENCH_SCENARIO_PROCESS';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'all' },
    leads: { type: 'string' },
    rpm: { type: 'string', default: '600' },
    'research-rpm': { type: 'string' },
    'writer-rpm': { type: 'string' },
    'latency-ms': { type: 'string', default: '1500' },
    profile: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function positiveInteger(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) fail(`--${name} must be a positive whole number (got ${JSON.stringify(raw)})`);
  return value;
}

const scenarios: readonly ScenarioName[] =
  values.scenario === 'all'
    ? SCENARIOS
    : (SCENARIOS as readonly string[]).includes(values.scenario)
      ? [values.scenario as ScenarioName]
      : fail(`--scenario must be one of ${SCENARIOS.join(', ')} or all (got ${JSON.stringify(values.scenario)})`);
const leads = positiveInteger('leads', values.leads);
const rpm = positiveInteger('rpm', values.rpm) ?? 600;
const researchRpm = positiveInteger('research-rpm', values['research-rpm']) ?? rpm;
const writerRpm = positiveInteger('writer-rpm', values['writer-rpm']) ?? 2 * researchRpm;
const latencyMs = Number(values['latency-ms']);
if (!Number.isFinite(latencyMs) || latencyMs < 0) fail(`--latency-ms must be a non-negative number (got ${JSON.stringify(values['latency-ms'])})`);

if (process.env[CHILD_FLAG] === undefined) await orchestrate();
else await runOne(scenarios[0] ?? fail('no scenario'));

/** Runs each scenario in a forked process, one after the other, then prints the table. */
async function orchestrate(): Promise<void> {
  const startedAt = new Date();
  const results: ScenarioResult[] = [];
  const crashed: ScenarioName[] = [];
  // Ctrl-C reaches the scenario process too: it cleans up and exits; this one waits for it.
  process.on('SIGINT', () => {});
  for (const scenario of scenarios) {
    console.log(`\n── ${scenario} ${'─'.repeat(60)}`);
    const profileDir = fileURLToPath(new URL(`../../.bench/profiles/${scenario}/`, import.meta.url));
    if (values.profile) await rm(profileDir, { recursive: true, force: true });
    const child = fork(process.argv[1] ?? '', ['--scenario', scenario, ...process.argv.slice(2).filter((_, index, args) => !isScenarioArg(args, index))], {
      env: { ...process.env, [CHILD_FLAG]: '1' },
      execArgv: [...process.execArgv, ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
    });
    let result: ScenarioResult | undefined;
    child.on('message', (message) => (result = message as ScenarioResult));
    const [code] = (await once(child, 'exit')) as [number | null];
    if (result === undefined || code !== 0) crashed.push(scenario);
    else results.push(result);
    if (values.profile) for (const line of await profileSummary(profileDir, 15)) console.log(`  ${line}`);
  }
  printTable(results, crashed, machine(), startedAt);
  process.exitCode = crashed.length > 0 ? 1 : 0;
}

/** `--scenario x` or `--scenario=x` at `index`: the parent's choice, replaced for each child. */
function isScenarioArg(args: readonly string[], index: number): boolean {
  const arg = args[index] ?? '';
  return arg === '--scenario' || arg.startsWith('--scenario=') || args[index - 1] === '--scenario';
}

async function runOne(scenario: ScenarioName): Promise<void> {
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort(new Error('interrupted')));
  const options: ScenarioOptions = { signal: interrupted.signal, leads: leads ?? DEFAULT_LEADS[scenario] };
  let result: ScenarioResult;
  try {
    result =
      scenario === 'provider'
        ? await providerScenario({ ...options, researchRpm, writerRpm, latencyMs })
        : scenario === 'overhead'
          ? await overheadScenario(options)
          : await importScenario(options);
  } catch (error) {
    console.error(`${scenario} scenario failed:`, error);
    process.exit(1);
  }
  console.log(result.label);
  for (const figure of result.figures) console.log(`  ${figure.name}: ${figure.value}${figure.target === undefined ? '' : ` (target ${figure.target})`}`);
  for (const line of result.details) console.log(`  · ${line}`);
  if (process.send !== undefined) process.send(result, () => process.exit(0));
}

function printTable(results: readonly ScenarioResult[], crashed: readonly ScenarioName[], host: Machine, startedAt: Date): void {
  const versions = results[0]?.versions;
  console.log(`\nBenchmark of ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  console.log(`Machine: ${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB; ${host.os}; Node ${host.node}` +
    (versions === undefined ? '' : `; PostgreSQL ${versions.postgres}; NATS ${versions.nats}`));
  console.log('\n| Scenario | Figure | Measured | Target | Met |');
  console.log('|---|---|---|---|---|');
  for (const result of results) {
    result.figures.forEach((figure, index) => {
      const met = figure.met === undefined ? '' : figure.met ? 'yes' : 'no';
      console.log(`| ${index === 0 ? result.label : ''} | ${figure.name} | ${figure.value} | ${figure.target ?? ''} | ${met} |`);
    });
  }
  for (const scenario of crashed) console.log(`| ${scenario} | did not finish (see its output above) | | | no |`);
}
