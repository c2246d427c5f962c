import { describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { campaignCsv, contentDisposition, headerRow } from '../../adapters/http/csv-export.ts';
import { leadResult } from '../../adapters/http/result-record.ts';
import type { ExportRow, LeadView } from '../../ports/campaign-queries.port.ts';

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
    outputs: {},
    message_basis: null,
    error: null,
    attempts: 1,
    model: null,
    research_model: null,
    cost_usd: n / 1000,
    sandbox: false,
    updated_at: '2026-01-01T00:00:00.000Z',
    settled_at: null,
  };
}

const row = (n: number): ExportRow => ({ kind: 'lead', lead: lead(n) });

/** What reading a batch from the database costs the generators below: a turn of the event loop. */
const roundTrip = () => new Promise((resolve) => setImmediate(resolve));

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

describe('campaignCsv', () => {
  it('streams the header row and one CRLF-terminated row per row, leads and rows that are not leads alike', async () => {
    async function* rows(): AsyncGenerator<ExportRow> {
      await roundTrip();
      yield row(1);
      yield { kind: 'import_row', row: { run_id: 'run', row: 3, status: 'rejected', reason: "row 3: email 'x@' is not a valid address", fields: [['email', 'x@'], ['company', 'Co']] } };
      yield { kind: 'lead', lead: { ...lead(3), citations: [{ url: 'https://a.example/' }, { url: 'https://b.example/', title: 'B' }], message_basis: 'Co 3 ships.', research: 'Co 3 ships rockets.', model: 'w', research_model: 'r' } };
      yield { kind: 'import_row', row: { run_id: 'run', row: 5, status: 'duplicate', reason: 'row 5: same email as row 2', fields: [] } };
    }
    const errors: Error[] = [];
    const text = await readAll(campaignCsv({ headers: ['email', 'company'], rows: rows() }, (error) => errors.push(error)));
    expect(text).toBe(
      'email,company,personalized_message,enrichment_status,error,unsupported_specifics,research_summary,sources,message_basis,model,research_model,cost_usd\r\n' +
        'lead1@example.com,Co 1,Hi 1,personalized,,,,,,,,0.001000\r\n' +
        "x@,Co,,rejected,row 3: email 'x@' is not a valid address,,,,,,,0.000000\r\n" +
        'lead3@example.com,Co 3,Hi 3,personalized,,,Co 3 ships rockets.,https://a.example/ https://b.example/,Co 3 ships.,w,r,0.003000\r\n' +
        ',,,duplicate,row 5: same email as row 2,,,,,,,0.000000\r\n',
    );
    expect(errors).toEqual([]);
  });

  it('lists the unsupported specifics a lead left for review is refused for, read from its reasons', async () => {
    const reason =
      'needs review: unsupported specific: "$50M" (not in the research or the lead\'s fields); unsupported specific: "last week" (the research gives no such time); ps: unsupported specific: "Sequoia" (not in the research or the lead\'s fields)';
    async function* rows(): AsyncGenerator<ExportRow> {
      await roundTrip();
      yield { kind: 'lead', lead: { ...lead(1), status: 'needs_review', error: reason } };
      yield { kind: 'lead', lead: { ...lead(2), status: 'needs_review', error: 'needs review: 27 words (at most 25)' } };
      // Only a review's reasons are read: a failure's text is not the gates'.
      yield { kind: 'lead', lead: { ...lead(3), status: 'failed', error: 'unsupported specific: "x" (y)' } };
    }
    const records = parse<Record<string, string>>(await readAll(campaignCsv({ headers: ['email'], rows: rows() }, () => {})), { bom: true, columns: true });
    expect(records.map((record) => [record.enrichment_status, record.unsupported_specifics])).toEqual([
      ['needs_review', '$50M; last week; Sequoia'],
      ['needs_review', ''],
      ['failed', ''],
    ]);
    expect(leadResult({ ...lead(1), status: 'needs_review', error: reason }).unsupported_specifics).toEqual(['$50M', 'last week', 'Sequoia']);
  });

  it('adds a column per custom output after ours, empty for a row without it, renamed when the file has the name', async () => {
    async function* rows(): AsyncGenerator<ExportRow> {
      await roundTrip();
      yield { kind: 'lead', lead: { ...lead(1), outputs: { subject_line: 'About Co 1', ps: '=1+1' } } };
      yield row(2);
      yield { kind: 'import_row', row: { run_id: 'run', row: 4, status: 'duplicate', reason: 'row 4: same email as row 2', fields: [] } };
    }
    const text = await readAll(campaignCsv({ headers: ['email', 'ps'], outputs: ['subject_line', 'ps'], rows: rows() }, () => {}));
    expect(text).toBe(
      'email,ps,personalized_message,enrichment_status,error,unsupported_specifics,research_summary,sources,message_basis,model,research_model,cost_usd,subject_line,ps (aga)\r\n' +
        "lead1@example.com,,Hi 1,personalized,,,,,,,,0.001000,About Co 1,'=1+1\r\n" +
        'lead2@example.com,,Hi 2,personalized,,,,,,,,0.002000,,\r\n' +
        ',,,duplicate,row 4: same email as row 2,,,,,,,0.000000,,\r\n',
    );
  });

  it('adds a sandbox column when some run was made on the sandbox', async () => {
    async function* rows(): AsyncGenerator<ExportRow> {
      await roundTrip();
      yield { kind: 'lead', lead: { ...lead(1), sandbox: true, cost_usd: 0 } };
      yield { kind: 'import_row', row: { run_id: 'run', row: 3, status: 'duplicate', reason: 'row 3: same email as row 2', fields: [] } };
    }
    const text = await readAll(campaignCsv({ headers: ['email'], sandbox: true, rows: rows() }, () => {}));
    expect(text).toBe(
      'email,personalized_message,enrichment_status,error,unsupported_specifics,research_summary,sources,message_basis,model,research_model,cost_usd,sandbox\r\n' +
        'lead1@example.com,Hi 1,personalized,,,,,,,,0.000000,true\r\n' +
        ',,duplicate,row 3: same email as row 2,,,,,,,0.000000,false\r\n',
    );
  });

  it('shaped for a sequencer, fills the line and the custom outputs of personalized leads only: a draft left for review is not sent', async () => {
    const reason = 'needs review: unsupported specific: "$50M" (not in the research or the lead\'s fields)';
    async function* rows(): AsyncGenerator<ExportRow> {
      await roundTrip();
      yield { kind: 'lead', lead: { ...lead(1), outputs: { subject_line: 'About Co 1' } } };
      yield { kind: 'lead', lead: { ...lead(2), status: 'needs_review', message: 'Congrats on the $50M, 2', outputs: { subject_line: 'Your $50M' }, error: reason } };
      yield { kind: 'lead', lead: { ...lead(3), status: 'failed', message: null, error: 'research failed' } };
    }
    const shaped = async (options: { for?: 'lemlist' }) =>
      parse<Record<string, string>>(await readAll(campaignCsv({ headers: ['email'], outputs: ['subject_line'], rows: rows() }, () => {}, options)), { bom: true, columns: true });
    expect((await shaped({ for: 'lemlist' })).map((record) => [record.enrichment_status, record.icebreaker, record.subject_line, record.unsupported_specifics])).toEqual([
      ['personalized', 'Hi 1', 'About Co 1', ''],
      ['needs_review', '', '', '$50M'],
      ['failed', '', '', ''],
    ]);
    // The standard export keeps the draft beside its reasons, for the person who reviews it.
    expect((await shaped({})).map((record) => record.personalized_message)).toEqual(['Hi 1', 'Congrats on the $50M, 2', '']);
  });

  it("names the line's column as a sequencer expects, renaming a column of the file that had the name", () => {
    const added = ['enrichment_status', 'error', 'unsupported_specifics', 'research_summary', 'sources', 'message_basis', 'model', 'research_model', 'cost_usd'];
    expect(headerRow(['Email', 'personalization'], { for: 'instantly' })).toEqual(['Email', 'personalization (original)', 'personalization', ...added]);
    expect(headerRow(['Email'], { for: 'smartlead' })).toEqual(['Email', 'personalization', ...added]);
    expect(headerRow(['email', 'Icebreaker', 'error'], { for: 'lemlist' })).toEqual(['email', 'Icebreaker (original)', 'error', 'icebreaker', 'enrichment_status', 'error (aga)', ...added.slice(2)]);
    expect(headerRow(['email', 'personalized_message'])).toEqual(['email', 'personalized_message', 'personalized_message (aga)', ...added]);
  });

  it('names the file after the campaign and the day: an ASCII name, and the UTF-8 one for those who read it', () => {
    const day = new Date('2026-12-03T23:59:59Z');
    expect(contentDisposition('Acme Q4', day)).toBe(`attachment; filename="acme-q4-2026-12-03.csv"; filename*=UTF-8''acme-q4-2026-12-03.csv`);
    expect(contentDisposition('Café "Crème" / Q4 (test)*', day)).toBe(
      `attachment; filename="cafe-creme-q4-test-2026-12-03.csv"; filename*=UTF-8''caf%C3%A9-cr%C3%A8me-q4-test-2026-12-03.csv`,
    );
    expect(contentDisposition('営業リスト', day)).toBe(
      `attachment; filename="campaign-2026-12-03.csv"; filename*=UTF-8''${encodeURIComponent('営業リスト')}-2026-12-03.csv`,
    );
    expect(contentDisposition('Acme Q4', day, 'instantly-personalized')).toBe(
      `attachment; filename="acme-q4-2026-12-03-instantly-personalized.csv"; filename*=UTF-8''acme-q4-2026-12-03-instantly-personalized.csv`,
    );
    expect(contentDisposition('---', day)).toBe(`attachment; filename="campaign-2026-12-03.csv"; filename*=UTF-8''campaign-2026-12-03.csv`);
    expect(contentDisposition('x'.repeat(300), day)).toMatch(/^attachment; filename="x{80}-2026-12-03\.csv"/);
  });

  it('errors the download, rather than ending it short, when reading the leads fails', async () => {
    async function* rows() {
      yield row(1);
      await roundTrip();
      throw new Error('connection lost');
    }
    const errors: Error[] = [];
    await expect(readAll(campaignCsv({ headers: ['email'], rows: rows() }, (error) => errors.push(error)))).rejects.toThrow('connection lost');
    expect(errors.map((error) => error.message)).toEqual(['connection lost']);
  });

  it('stops reading leads when the client goes away', async () => {
    let produced = 0;
    let finished = false;
    async function* rows() {
      try {
        for (;;) {
          await roundTrip();
          produced += 1;
          yield row(produced);
        }
      } finally {
        finished = true;
      }
    }
    const reader = campaignCsv({ headers: ['email'], rows: rows() }, () => {}).getReader();
    await reader.read();
    await reader.cancel();
    await expect.poll(() => finished).toBe(true);
    const stopped = produced;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(produced).toBe(stopped);
  });
});
