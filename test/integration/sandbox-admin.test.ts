/**
 * The sandbox's runtime control over real HTTP (adapters/sandbox/admin.ts), which the chaos
 * harness drives from another process: faults replaced mid-run, and the answers a provider would
 * bill counted per lead and stage, through the real provider adapters.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { adminHandler, billingLedger, switchableFaults, type BillingEntry } from '../../adapters/sandbox/admin.ts';
import type { FaultSettings } from '../../adapters/sandbox/faults.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import { adaptersFor, startTestSandbox, testLead, spawnSandboxScript } from '../support/sandbox.ts';

const open: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((sandbox) => sandbox.close()));
});

async function adminSandbox(initial: FaultSettings = {}) {
  const faults = switchableFaults(initial);
  const ledger = billingLedger();
  const sandbox = await startTestSandbox({ interceptors: faults.interceptors, admin: adminHandler(faults, ledger), onAnswer: (request, reply) => ledger.record(request, reply) });
  open.push(sandbox);
  return { sandbox, origin: sandbox.url.replace(/\/v1$/, '') };
}

function research(url: string): Promise<number> {
  return fetch(`${url}/responses`, {
    method: 'POST',
    headers: { authorization: 'Bearer any', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', input: 'Research this lead.' }),
  }).then((response) => response.status);
}

function putFaults(origin: string, settings: unknown): Promise<Response> {
  return fetch(`${origin}/admin/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(settings) });
}

async function billing(origin: string, prefix = ''): Promise<Record<string, BillingEntry>> {
  return ((await (await fetch(`${origin}/admin/billing?prefix=${encodeURIComponent(prefix)}`)).json()) as { leads: Record<string, BillingEntry> }).leads;
}

describe('sandbox admin', () => {
  it('replaces the faults at runtime, keeps the old ones on a bad setting, and sums the counters', async () => {
    const { sandbox, origin } = await adminSandbox();
    expect(await research(sandbox.url)).toBe(200);

    expect((await putFaults(origin, { unauthorized: true })).status).toBe(200);
    expect(await research(sandbox.url)).toBe(401);
    expect((await putFaults(origin, { credit: 0 })).status).toBe(200);
    expect(await research(sandbox.url)).toBe(402);

    const invalid = await putFaults(origin, { errorRate: 2 });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { message: string } }).error.message).toContain('errorRate');
    // Still out of credit: the bad settings were not applied.
    expect(await research(sandbox.url)).toBe(402);

    expect((await putFaults(origin, {})).status).toBe(200);
    expect(await research(sandbox.url)).toBe(200);
    const state = (await (await fetch(`${origin}/admin/faults`)).json()) as { settings: unknown; counts: Record<string, number> };
    expect(state).toMatchObject({ settings: {}, counts: { unauthorized: 1, outOfCredit: 2, failed: 0 } });
  });

  it('counts billed answers per lead and stage: research, first drafts, rewrites, malformed ones apart', async () => {
    const { sandbox, origin } = await adminSandbox();
    const adapters = adaptersFor(sandbox);
    const lead = testLead({ company: 'Chaos Lead 0001 Co' });
    const other = testLead({ email: 'bo@other.example', company: 'Other Co' });
    const signal = () => AbortSignal.timeout(5_000);

    const found = await adapters.research.research({ lead }, signal());
    await adapters.research.research({ lead }, signal());
    const draft = await adapters.writer.write({ lead, research: found }, signal());
    await adapters.writer.write({ lead, research: found, feedback: { draft: draft.message, problems: ['too long'] } }, signal());
    await adapters.research.research({ lead: other }, signal());

    // A malformed answer is billed, and the adapter rejects it.
    expect((await putFaults(origin, { malformedRate: 1 })).status).toBe(200);
    await expect(adapters.research.research({ lead }, signal())).rejects.toThrow();
    await expect(adapters.writer.write({ lead, research: found }, signal())).rejects.toThrow();
    // A refused call is not billed.
    expect((await putFaults(origin, { unauthorized: true })).status).toBe(200);
    await expect(adapters.research.research({ lead }, signal())).rejects.toThrow();

    expect(await billing(origin, 'Chaos ')).toEqual({ 'Chaos Lead 0001 Co': { research: 2, drafts: 1, rewrites: 1, malformed: 2 } });
    expect(Object.keys(await billing(origin))).toEqual(['Chaos Lead 0001 Co', 'Other Co']);

    expect((await fetch(`${origin}/admin/billing`, { method: 'DELETE' })).status).toBe(200);
    expect(await billing(origin)).toEqual({});
  });

  it('is not there unless asked for', async () => {
    const sandbox = await startTestSandbox();
    open.push(sandbox);
    expect((await fetch(`${sandbox.url.replace(/\/v1$/, '')}/admin/faults`)).status).toBe(404);
  });

  it('npm run sandbox -- --admin serves it on the sandbox port', async () => {
    const sandbox = await spawnSandboxScript(['--port', '0', '--admin']);
    const { child, url } = sandbox;
    try {
      const origin = url.replace(/\/v1$/, '');
      expect((await putFaults(origin, { errorRate: 1, seed: 3 })).status).toBe(200);
      expect([500, 503]).toContain(await research(url));
      expect((await putFaults(origin, {})).status).toBe(200);
      expect(await research(url)).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    await once(child, 'exit');
    expect(JSON.parse(/sandbox summary: (\{.*\})/.exec(sandbox.output)?.[1] ?? 'null')).toMatchObject({ requests: { responses: 2 }, faults: { failed: 1 } });
  });
});
