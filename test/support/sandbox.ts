/**
 * The sandbox provider for tests: a real HTTP server on a free local port, and the real
 * provider adapters pointed at it, so every provider call in a test crosses real HTTP.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { OpenRouterMessageWriter } from '../../adapters/providers/openrouter-writer.ts';
import { PerplexityResearchProvider } from '../../adapters/providers/perplexity-research.ts';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../adapters/sandbox/server.ts';
import type { LeadProfile } from '../../ports/providers.port.ts';

/** The key the adapters send; a sandbox started with `apiKey` accepts only its own. */
export const TEST_PROVIDER_KEY = 'sk-test-provider-key-7f3a9c';

export function startTestSandbox(options: Omit<SandboxOptions, 'port' | 'host'> = {}): Promise<Sandbox> {
  return startSandbox({ ...options, host: '127.0.0.1', port: 0 });
}

export interface SandboxAdapters {
  readonly research: PerplexityResearchProvider;
  readonly writer: OpenRouterMessageWriter;
}

/** Both adapters, talking to `sandbox`. */
export function adaptersFor(sandbox: Sandbox, options: { apiKey?: string; timeoutMs?: number } = {}): SandboxAdapters {
  const settings = { apiKey: options.apiKey ?? TEST_PROVIDER_KEY, baseURL: sandbox.url, timeoutMs: options.timeoutMs ?? 5_000 };
  return { research: new PerplexityResearchProvider(settings), writer: new OpenRouterMessageWriter(settings) };
}

export function testLead(overrides: { email?: string; company?: string; firstName?: string; title?: string } = {}): LeadProfile {
  const email = overrides.email ?? 'ana.lima@acme-robotics.example';
  const company = overrides.company ?? 'Acme Robotics';
  return {
    email,
    company,
    canonical: {
      email,
      company,
      first_name: overrides.firstName ?? 'Ana',
      last_name: 'Lima',
      title: overrides.title ?? 'VP Operations',
      website: 'https://acme-robotics.example',
      phone: '+1 555 0100',
    },
  };
}

/** `npm run sandbox` as a child process (scripts/sandbox.ts with `args`), once it has printed its URL (and `readyText`, when given). */
export interface SandboxScript {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly url: string;
  /** Everything it printed on stdout so far. */
  readonly output: string;
}

export async function spawnSandboxScript(args: readonly string[], readyText?: string): Promise<SandboxScript> {
  const script = fileURLToPath(new URL('../../scripts/sandbox.ts', import.meta.url));
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`no URL printed: ${output}`));
    }, 10_000);
    child.stdout.on('data', () => {
      const match = /listening: (http:\/\/\S+\/v1)/.exec(output);
      if (match?.[1] !== undefined && (readyText === undefined || output.includes(readyText))) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return {
    child,
    url,
    get output() {
      return output;
    },
  };
}
