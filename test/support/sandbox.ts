/**
 * The sandbox provider for tests: a real HTTP server on a free local port, and the real
 * provider adapters pointed at it, so every provider call in a test crosses real HTTP.
 */
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
