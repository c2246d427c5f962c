/**
 * The shipped Prometheus files, checked by Prometheus's own tool: `promtool check config` and
 * `check rules` parse them as Prometheus does, and `promtool test rules` runs the rules' unit tests
 * (deploy/prometheus/alerts.test.yml: made-up series, and which alerts fire when). .ci/run installs
 * Debian's prometheus package (which carries promtool); elsewhere the test is skipped without it.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIR = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));

function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const promtool = (...args: string[]) => execFileSync('promtool', args, { cwd: DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe.skipIf(!hasPromtool() && process.env.CI !== 'true')('deploy/prometheus with promtool', () => {
  it('is a valid Prometheus configuration that loads the alert rules', () => {
    expect(promtool('check', 'config', 'prometheus.yml')).toMatch(/SUCCESS: 1 rule files found/);
  });

  it('has valid alert rules, each with a severity, a summary and a runbook entry in the README', async () => {
    expect(promtool('check', 'rules', 'alerts.yml')).toMatch(/SUCCESS: \d+ rules found/);
    const { readFile } = await import('node:fs/promises');
    const { parse } = await import('yaml');
    const rules = (parse(await readFile(`${DIR}alerts.yml`, 'utf8')) as { groups: { rules: { alert: string; labels: { severity: string }; annotations: { summary: string; runbook: string } }[] }[] }).groups.flatMap((group) => group.rules);
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    for (const rule of rules) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
      expect(rule.annotations.runbook, rule.alert).toBe(`README.md#alerts: ${rule.alert}`);
      expect(readme, `README's runbook has no entry for ${rule.alert}`).toContain(`**${rule.alert}**`);
    }
  });

  it('fires each alert when, and only when, its unit tests say', () => {
    expect(promtool('test', 'rules', 'alerts.test.yml')).toMatch(/SUCCESS/);
  });
});
