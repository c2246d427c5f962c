/**
 * Prints one closing line, `tests: N passed, N failed, N skipped`, after vitest's own summary,
 * so CI logs end with a plain count that any log reader understands. Before it, the figures a test
 * reported in its `task.meta.figures` (an evaluation's precision and recall, say), so that they
 * are not lost among the run's output.
 */
import type { Reporter, TestModule } from 'vitest/node';

declare module 'vitest' {
  interface TaskMeta {
    /** Lines a test reports for the end of the run (see SummaryReporter). */
    figures?: string[];
  }
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: readonly TestModule[], unhandledErrors: readonly unknown[]): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const figures: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        figures.push(...(test.meta().figures ?? []));
        const state = test.result().state;
        if (state === 'passed') passed += 1;
        else if (state === 'failed') failed += 1;
        else skipped += 1;
      }
      // A file that failed to load has no tests but must still count as a failure.
      if (module.state() === 'failed' && module.children.size === 0) failed += 1;
    }
    failed += unhandledErrors.length;
    if (figures.length > 0) process.stdout.write(`\n${figures.join('\n')}\n`);
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
