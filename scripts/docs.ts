/**
 * `npm run docs`: writes what the consumers' declarations document (src/app/kernel/docs.ts) into
 * README.md and .env.example, between their markers. test/unit/docs.test.ts fails while a file
 * differs from what this would write.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { CONSUMERS } from '../src/app/consumers/index.ts';
import { consumersTable, consumerVariablesBlock, MARKERS, replaceBetween, rolesBlock } from '../src/app/kernel/docs.ts';

const root = new URL('../', import.meta.url);

export async function derivedDocs(): Promise<{ readme: string; envExample: string }> {
  const readme = await readFile(new URL('README.md', root), 'utf8');
  let envExample = await readFile(new URL('.env.example', root), 'utf8');
  envExample = replaceBetween(envExample, MARKERS.envRoles[0], MARKERS.envRoles[1], rolesBlock(CONSUMERS));
  envExample = replaceBetween(envExample, MARKERS.envVariables[0], MARKERS.envVariables[1], consumerVariablesBlock(CONSUMERS));
  return { readme: replaceBetween(readme, MARKERS.readmeConsumers[0], MARKERS.readmeConsumers[1], consumersTable(CONSUMERS)), envExample };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const docs = await derivedDocs();
  await writeFile(new URL('README.md', root), docs.readme);
  await writeFile(new URL('.env.example', root), docs.envExample);
  console.log('README.md and .env.example updated from the consumers\' declarations');
}
