import { describe, expect, it } from 'vitest';
import { campaignCsv } from '../../adapters/http/csv-export.ts';
import type { LeadView } from '../../ports/campaign-queries.port.ts';

function lead(n: number): LeadView {
  return {
    id: `lead-${n}`,
    run_id: 'run',
    row: n + 1,
    email: `lead${n}@example.com`,
    company: `Co ${n}`,
    canonical: {},
    fields: [
      ['email', `lead${n}@example.com`],
      ['company', `Co ${n}`],
    ],
    status: 'personalized',
    research: null,
    citations: [],
    research_cached: false,
    message: `Hi ${n}`,
    error: null,
    attempts: 1,
    model: null,
    cost_usd: n / 1000,
    updated_at: '2026-01-01T00:00:00.000Z',
    settled_at: null,
  };
}

/** What reading a batch from the database costs the generators below: a turn of the event loop. */
const roundTrip = () => new Promise((resolve) => setImmediate(resolve));

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

describe('campaignCsv', () => {
  it('streams the header row and one CRLF-terminated row per lead', async () => {
    async function* leads() {
      await roundTrip();
      yield lead(1);
      yield lead(2);
    }
    const errors: Error[] = [];
    const text = await readAll(campaignCsv({ headers: ['email', 'company'], leads: leads() }, (error) => errors.push(error)));
    expect(text).toBe(
      'email,company,personalized_message,enrichment_status,error,cost_usd\r\n' +
        'lead1@example.com,Co 1,Hi 1,personalized,,0.001000\r\n' +
        'lead2@example.com,Co 2,Hi 2,personalized,,0.002000\r\n',
    );
    expect(errors).toEqual([]);
  });

  it('errors the download, rather than ending it short, when reading the leads fails', async () => {
    async function* leads() {
      yield lead(1);
      await roundTrip();
      throw new Error('connection lost');
    }
    const errors: Error[] = [];
    await expect(readAll(campaignCsv({ headers: ['email'], leads: leads() }, (error) => errors.push(error)))).rejects.toThrow('connection lost');
    expect(errors.map((error) => error.message)).toEqual(['connection lost']);
  });

  it('stops reading leads when the client goes away', async () => {
    let produced = 0;
    let finished = false;
    async function* leads() {
      try {
        for (;;) {
          await roundTrip();
          produced += 1;
          yield lead(produced);
        }
      } finally {
        finished = true;
      }
    }
    const reader = campaignCsv({ headers: ['email'], leads: leads() }, () => {}).getReader();
    await reader.read();
    await reader.cancel();
    await expect.poll(() => finished).toBe(true);
    const stopped = produced;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(produced).toBe(stopped);
  });
});
