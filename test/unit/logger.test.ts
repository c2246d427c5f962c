import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('writes JSON lines with a level label and an ISO time', () => {
    const { lines, destination } = capture();
    createLogger({ level: 'info', destination }).info({ run_id: 'r1' }, 'hello');
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', msg: 'hello', run_id: 'r1', service: 'ai-growth-accelerator' });
    expect(typeof line.time).toBe('string');
  });

  it('redacts credentials and lead personal data at the top level and one level down', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'info', destination });
    logger.info({ email: 'jane@acme.example', token: 'eyJhbGciOi.secret', apiKey: 'pplx-123' }, 'top');
    logger.info({ lead: { email: 'bob@acme.example', phone: '+1 555 0100' }, req: { headers: { authorization: 'Bearer abc.def' } } }, 'nested');
    const text = lines.join('\n');
    for (const secret of ['jane@acme.example', 'eyJhbGciOi.secret', 'pplx-123', 'bob@acme.example', '+1 555 0100', 'Bearer abc.def']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });
});
