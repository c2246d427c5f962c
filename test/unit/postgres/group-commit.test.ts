/**
 * GroupCommit's batching rules, with a batch function that records what it was given: a lone call
 * runs at once; calls made while a batch runs wait for the next one (never join the one under
 * way); batches run one at a time, at most maxBatch calls each; a failed batch fails its calls only.
 */
import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../../adapters/postgres/group-commit.ts';

/** A batch function whose batches finish when the test says so. */
function controlledBatches() {
  const batches: number[][] = [];
  const finishers: ((fail?: Error) => void)[] = [];
  let running = 0;
  let mostAtOnce = 0;
  const group = new GroupCommit<number, string>(
    (inputs) =>
      new Promise((resolve, reject) => {
        batches.push([...inputs]);
        running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        finishers.push((fail) => {
          running -= 1;
          if (fail === undefined) resolve(inputs.map((input) => `done ${input}`));
          else reject(fail);
        });
      }),
    { maxBatch: 3 },
  );
  const finish = async (fail?: Error) => {
    finishers.shift()?.(fail);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { group, batches, finish, mostAtOnce: () => mostAtOnce };
}

describe('GroupCommit', () => {
  it('runs a lone call at once, and the calls made meanwhile as the next batches, one batch at a time', async () => {
    const { group, batches, finish, mostAtOnce } = controlledBatches();
    const first = group.submit(1);
    expect(batches).toEqual([[1]]);

    const later = [2, 3, 4, 5].map((input) => group.submit(input));
    expect(batches).toEqual([[1]]); // they wait: the running batch started before them
    await finish();
    expect(await first).toBe('done 1');
    expect(batches).toEqual([[1], [2, 3, 4]]); // at most maxBatch
    await finish();
    expect(batches).toEqual([[1], [2, 3, 4], [5]]);
    await finish();
    expect(await Promise.all(later)).toEqual(['done 2', 'done 3', 'done 4', 'done 5']);
    expect(mostAtOnce()).toBe(1);

    // Idle again: the next lone call runs at once.
    const again = group.submit(6);
    expect(batches.at(-1)).toEqual([6]);
    await finish();
    expect(await again).toBe('done 6');
  });

  it('fails the calls of a failed batch only, and goes on with the next', async () => {
    const { group, finish } = controlledBatches();
    const first = group.submit(1);
    const second = group.submit(2);
    const failed = expect(first).rejects.toThrow('deadlock');
    await finish(new Error('deadlock'));
    await failed;
    await finish();
    expect(await second).toBe('done 2');
  });

  it('refuses a batch function that does not answer every call', async () => {
    const group = new GroupCommit<number, number>((inputs) => Promise.resolve(inputs.slice(1)));
    await expect(group.submit(1)).rejects.toThrow('a group commit returned 0 results for 1 calls');
  });
});
