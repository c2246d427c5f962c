/** The README's table of consumers and `.env.example`'s roles and consumer settings are derived from the declarations. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { derivedDocs } from '../../scripts/docs.ts';
import { CONSUMERS } from '../../src/app/consumers/index.ts';
import { declaredVariables, roleNames } from '../../src/app/kernel/assemble.ts';
import { consumersTable } from '../../src/app/kernel/docs.ts';

const read = (file: string) => readFile(new URL(`../../${file}`, import.meta.url), 'utf8');

describe('documentation derived from the consumers', () => {
  it('README.md and .env.example are what `npm run docs` writes (run it after changing a declaration)', async () => {
    const derived = await derivedDocs();
    expect(await read('README.md')).toBe(derived.readme);
    expect(await read('.env.example')).toBe(derived.envExample);
  });

  it('the table has a row per consumer, and .env.example names every role and declared variable', async () => {
    const table = consumersTable(CONSUMERS);
    for (const consumer of CONSUMERS) expect(table).toContain(`| \`${consumer.name}\` |`);
    const envExample = await read('.env.example');
    expect(envExample.replaceAll('\n# ', ' ')).toContain(roleNames(CONSUMERS).join(', '));
    for (const variable of declaredVariables(CONSUMERS)) expect(envExample).toMatch(new RegExp(`^(# )?${variable.name}=`, 'm'));
  });
});
