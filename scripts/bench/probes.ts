/**
 * Measurements around a scenario: CPU time of this process and of the services beside it,
 * memory high-water marks, the pipeline's progress over time, and the machine itself.
 */
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type postgres from 'postgres';

/** Linux reports process times in USER_HZ ticks, 100 a second on every mainstream architecture. */
const TICKS_PER_SECOND = 100;

export interface CpuSnapshot {
  readonly process: NodeJS.CpuUsage;
  readonly elu: ReturnType<typeof performance.eventLoopUtilization>;
  /** Ticks per pid of the processes outside this one, by group. */
  readonly others: ReadonlyMap<number, { readonly group: string; readonly ticks: number }>;
}

export interface CpuSpent {
  /** CPU milliseconds of this process (user + system). */
  readonly processMs: number;
  /** Share of wall time this process's event loop was busy (0..1). */
  readonly eventLoopUtilization: number;
  /** CPU milliseconds per group of other processes; groups with no process seen are absent. */
  readonly othersMs: Readonly<Record<string, number>>;
}

/**
 * Groups of other processes worth counting, by pid or by command name: PostgreSQL's backends,
 * the NATS server, the sandbox child. Only on Linux (/proc); elsewhere the groups stay empty.
 */
export async function cpuSnapshot(groups: { readonly byName: Readonly<Record<string, string>>; readonly byPid: Readonly<Record<number, string>> }): Promise<CpuSnapshot> {
  const others = new Map<number, { group: string; ticks: number }>();
  let pids: string[] = [];
  try {
    pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry));
  } catch {
    // Not Linux: this process's own figures only.
  }
  await Promise.all(
    pids.map(async (entry) => {
      const pid = Number(entry);
      if (pid === process.pid) return;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
      if (stat === undefined) return;
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ')' ends it.
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const group = groups.byPid[pid] ?? groups.byName[name];
      if (group === undefined) return;
      const fields = stat.slice(close + 2).split(' ');
      // Fields 14 and 15 of the line (utime, stime) are 11 and 12 after "pid (comm) ".
      others.set(pid, { group, ticks: Number(fields[11]) + Number(fields[12]) });
    }),
  );
  return { process: process.cpuUsage(), elu: performance.eventLoopUtilization(), others };
}

export function cpuSince(start: CpuSnapshot, end: CpuSnapshot): CpuSpent {
  const othersMs: Record<string, number> = {};
  for (const [pid, { group, ticks }] of end.others) {
    // A process started during the scenario counts from zero.
    const before = start.others.get(pid)?.ticks ?? 0;
    othersMs[group] = (othersMs[group] ?? 0) + ((ticks - before) * 1000) / TICKS_PER_SECOND;
  }
  return {
    processMs: (end.process.user - start.process.user + end.process.system - start.process.system) / 1000,
    eventLoopUtilization: performance.eventLoopUtilization(end.elu, start.elu).utilization,
    othersMs,
  };
}

/** The resident set size of this process, sampled every `intervalMs`, with its peak. */
export class RssSampler {
  #peak = process.memoryUsage();
  readonly #timer: NodeJS.Timeout;

  constructor(intervalMs: number) {
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  /** The sample with the highest resident set size so far (with its heap figures, to tell JS objects from buffers and native memory). */
  peak(): NodeJS.MemoryUsage {
    this.#sample();
    return this.#peak;
  }

  /** The peak since the sampler started; sampling ends. */
  stop(): NodeJS.MemoryUsage {
    clearInterval(this.#timer);
    return this.peak();
  }

  #sample(): void {
    const usage = process.memoryUsage();
    if (usage.rss > this.#peak.rss) this.#peak = usage;
  }
}

/** When each stage of a run was finished for every lead, polled from the leads table. */
export interface StageTimes {
  /** Milliseconds from `startedAt` until no lead was left pending research. */
  readonly researchDoneMs: number | undefined;
}

/**
 * Polls the run's lead statuses every `intervalMs` to see when research was done for all `leads`
 * (the table keeps no research timestamp; the other stages have theirs).
 */
export class StageWatcher {
  #researchDoneAt: number | undefined;
  readonly #timer: NodeJS.Timeout;
  #polling = false;

  constructor(sql: postgres.Sql, runId: string, leads: number, intervalMs: number) {
    this.#timer = setInterval(() => {
      if (this.#polling || this.#researchDoneAt !== undefined) return;
      this.#polling = true;
      sql<{ n: number }[]>`select count(*)::int as n from leads where run_id = ${runId} and status not in ('pending', 'researching')`
        .then(([row]) => {
          if ((row?.n ?? 0) >= leads) this.#researchDoneAt = Date.now();
        })
        // A failed poll is simply the next one's to make.
        .catch(() => {})
        .finally(() => (this.#polling = false));
    }, intervalMs);
  }

  stop(startedAt: number): StageTimes {
    clearInterval(this.#timer);
    return { researchDoneMs: this.#researchDoneAt === undefined ? undefined : this.#researchDoneAt - startedAt };
  }
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
}
