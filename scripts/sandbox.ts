/**
 * Runs the sandbox provider on its own, for the benchmark or a service started elsewhere:
 *   npm run sandbox -- [--port 4010] [--host 127.0.0.1]
 * Point the service at it with PERPLEXITY_BASE_URL and OPENROUTER_BASE_URL set to the printed
 * URL and any non-empty PERPLEXITY_API_KEY / OPENROUTER_API_KEY. Stops on SIGINT or SIGTERM.
 */
import { parseArgs } from 'node:util';
import { startSandbox } from '../adapters/sandbox/server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4010' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a whole number between 0 and 65535 (got ${JSON.stringify(values.port)})`);
  process.exit(1);
}

const sandbox = await startSandbox({ port, host: values.host });
console.log(`sandbox provider listening: ${sandbox.url}`);
console.log(`  research (Responses API):   POST ${sandbox.url}/responses`);
console.log(`  writer (chat completions):  POST ${sandbox.url}/chat/completions`);
console.log('  set PERPLEXITY_BASE_URL and OPENROUTER_BASE_URL to the URL above, with any non-empty API keys');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`${signal}: stopping the sandbox provider`);
    void sandbox.close().then(() => process.exit(0));
  });
}
