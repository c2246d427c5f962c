/**
 * Where a scenario process spent its CPU, from the V8 profile `--profile` asks Node for: self
 * time summed by where the code lives (an npm package, a folder of ours, Node's internals,
 * native work such as socket writes, idle, the garbage collector).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const ROOT = new URL('../../', import.meta.url).href;

/** The `top` biggest shares of the newest profile in `dir`, one line each. */
export async function profileSummary(dir: string, top: number): Promise<string[]> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.cpuprofile')).sort();
  const newest = files.at(-1);
  if (newest === undefined) return ['no CPU profile was written'];
  const profile = JSON.parse(await readFile(join(dir, newest), 'utf8')) as CpuProfile;

  const areaOf = new Map(profile.nodes.map((node) => [node.id, area(node.callFrame)]));
  const micros = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    const where = areaOf.get(id) ?? '(unknown)';
    micros.set(where, (micros.get(where) ?? 0) + delta);
    total += delta;
  });
  return [
    `CPU profile ${join(dir, newest)} (${(total / 1e6).toFixed(1)} s sampled), self time by area:`,
    ...[...micros]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([where, spent]) => `  ${((100 * spent) / total).toFixed(1).padStart(5)}%  ${(spent / 1e6).toFixed(2).padStart(6)} s  ${where}`),
  ];
}

/** An npm package, a top-level folder of ours (`domain/personalization`), `node:` or a V8 pseudo-frame. */
function area({ functionName, url }: ProfileNode['callFrame']): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg !== undefined) return pkg;
  if (url.startsWith(ROOT)) return url.slice(ROOT.length).split('/').slice(0, 2).join('/');
  if (url.startsWith('node:')) return 'node: (internals)';
  if (url === '') return functionName.startsWith('(') ? functionName : `native: ${functionName}`;
  return url;
}
