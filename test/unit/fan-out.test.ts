import { describe, expect, it } from 'vitest';
import { fanOut } from '../../src/app/fan-out.ts';

const bytes = (...values: number[]) => new Uint8Array(values);

/** A source of `count` one-byte chunks that records how far it was read. */
function source(count: number, failAt?: number) {
  const state = { read: 0 };
  async function* chunks() {
    for (let index = 0; index < count; index += 1) {
      await Promise.resolve();
      if (index === failAt) throw new Error('upload broke');
      state.read += 1;
      yield bytes(index % 256);
    }
  }
  return { state, chunks: chunks() };
}

async function collect(branch: AsyncIterable<Uint8Array>): Promise<number[]> {
  const seen: number[] = [];
  for await (const chunk of branch) seen.push(...chunk);
  return seen;
}

describe('fanOut', () => {
  it('gives every branch every chunk, in order', async () => {
    const { chunks } = source(100);
    const { branches, done } = fanOut(chunks, 2);
    const [a, b] = await Promise.all(branches.map(collect));
    await done;
    const expected = Array.from({ length: 100 }, (_, index) => index);
    expect(a).toEqual(expected);
    expect(b).toEqual(expected);
  });

  it('reads the source to its end when a branch stops early, and the other still gets everything', async () => {
    const { state, chunks } = source(100);
    const { branches, done } = fanOut(chunks, 2);
    const early = (async () => {
      for await (const chunk of branches[0]!) if (chunk[0] === 3) break;
    })();
    const [, all] = await Promise.all([early, collect(branches[1]!)]);
    await done;
    expect(all).toHaveLength(100);
    expect(state.read).toBe(100);
  });

  it('reads the source to its end when every branch has stopped', async () => {
    const { state, chunks } = source(100);
    const { branches, done } = fanOut(chunks, 2);
    for (const branch of branches) branch.stop();
    await done;
    expect(state.read).toBe(100);
  });

  it('holds the source back while a branch is behind', async () => {
    const { state, chunks } = source(100);
    const { branches, done } = fanOut(chunks, 2);
    const iterator = branches[0]![Symbol.asyncIterator]();
    await iterator.next();
    const other = collect(branches[1]!);
    await new Promise((resolve) => setImmediate(resolve));
    expect(state.read).toBeLessThan(100);
    branches[0]!.stop();
    await Promise.all([other, done]);
    expect(state.read).toBe(100);
  });

  it('fails every reading branch with the source\'s error', async () => {
    const { chunks } = source(10, 5);
    const { branches, done } = fanOut(chunks, 2);
    const outcomes = await Promise.allSettled(branches.map(collect));
    await done;
    for (const outcome of outcomes) expect(outcome).toMatchObject({ status: 'rejected', reason: new Error('upload broke') });
  });
});
