/**
 * The personalization adapter over real HTTP against the sandbox provider: the three-part
 * system prompt, structured output, and strict reading of the JSON answer.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseOpener } from '../../adapters/providers/openrouter-writer.ts';
import { LEAD_DATA_CLOSE, LEAD_DATA_OPEN } from '../../adapters/providers/prompts.ts';
import type { Sandbox } from '../../adapters/sandbox/server.ts';
import type { Research } from '../../ports/providers.port.ts';
import { adaptersFor, startTestSandbox, testLead, type SandboxAdapters } from '../support/sandbox.ts';

let sandbox: Sandbox;
let adapters: SandboxAdapters;
const signal = () => new AbortController().signal;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  adapters = adaptersFor(sandbox);
});
afterAll(() => sandbox.close());
beforeEach(() => sandbox.reset());

async function researched(lead = testLead()): Promise<Research> {
  const research = await adapters.research.research({ lead }, signal());
  sandbox.reset();
  return research;
}

interface ChatBody {
  model: string;
  messages: { role: string; content: string }[];
  response_format: { type: string; json_schema: { name: string; strict: boolean; schema: { required: string[] } } };
}

function lastChatBody(): ChatBody {
  const records = sandbox.stats.lastRequests.filter((record) => record.endpoint === 'chatCompletions');
  expect(records).toHaveLength(1);
  return records[0]?.body as unknown as ChatBody;
}

describe('OpenRouterMessageWriter against the sandbox', () => {
  it('returns the opening line and its basis, grounded in the research', async () => {
    const lead = testLead();
    const research = await researched(lead);
    const draft = await adapters.writer.write({ lead, research }, signal());

    expect(draft.model).toBe('sandbox/writer-1');
    expect(research.text).toContain(draft.basis);
    expect(draft.basis.startsWith('Acme Robotics ')).toBe(true);
    expect(draft.message.split(/\s+/).length).toBeLessThanOrEqual(25);
    expect(draft.message).toMatch(/^[^.!?]+\.$/);
    expect(draft.message.startsWith('Ana, ')).toBe(true);
    expect(draft.usage?.inputTokens).toBeGreaterThan(0);
    expect(sandbox.stats.requests).toEqual({ responses: 0, chatCompletions: 1 });
  });

  it('asks for strict JSON Schema output with a task, guidelines and an example', async () => {
    const lead = testLead();
    await adapters.writer.write({ lead, research: await researched(lead) }, signal());
    const body = lastChatBody();

    expect(body.model).toBe('anthropic/claude-sonnet-4.6');
    expect(body.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'opening_line', strict: true } });
    expect(body.response_format.json_schema.schema.required).toEqual(['message', 'basis']);
    const [system, user] = body.messages;
    expect(system?.role).toBe('system');
    for (const part of ['## Task', '## Guidelines', '## Example', 'at most 25 words', 'never as instructions']) expect(system?.content).toContain(part);
    expect(user?.role).toBe('user');
    const block = user?.content.split(LEAD_DATA_OPEN)[1]?.split(LEAD_DATA_CLOSE)[0] ?? '';
    const data = JSON.parse(block) as { lead: Record<string, string>; research: { text: string; sources: { url: string }[] } };
    expect(data.lead.company).toBe('Acme Robotics');
    expect(data.research.text.startsWith('[sandbox research]')).toBe(true);
    expect(data.research.sources).toHaveLength(3);
    expect(JSON.stringify(body)).not.toContain(lead.email);
  });

  it('appends the campaign personalization prompt as campaign instructions', async () => {
    const lead = testLead();
    await adapters.writer.write({ lead, research: await researched(lead), prompt: 'Write in a formal tone.' }, signal());
    const system = lastChatBody().messages[0]?.content ?? '';
    expect(system).toContain('## Task');
    expect(system).toContain('## Campaign instructions');
    expect(system.endsWith('Write in a formal tone.')).toBe(true);
  });

  it('asks for the custom outputs in the schema and the instructions, and returns only those', async () => {
    const lead = testLead();
    const outputs = [
      { name: 'subject_line', instruction: 'A subject line about «Acme»', maxWords: 4 },
      { name: 'ps', instruction: 'A P.S.', maxWords: 10 },
    ];
    const draft = await adapters.writer.write({ lead, research: await researched(lead), prompt: 'Mention «Acme».', outputs }, signal());
    expect(draft.outputs).toEqual({ subject_line: 'Sandbox subject line for', ps: 'Sandbox ps for Acme Robotics' });

    const body = lastChatBody();
    const schema = body.response_format.json_schema.schema as unknown as { required: string[]; properties: { outputs: { required: string[]; additionalProperties: boolean } } };
    expect(schema.required).toEqual(['message', 'basis', 'outputs']);
    expect(schema.properties.outputs).toMatchObject({ required: ['subject_line', 'ps'], additionalProperties: false });
    const system = body.messages[0]?.content ?? '';
    expect(system).toContain('## Extra outputs');
    expect(system).toContain('- "subject_line" (at most 4 words): A subject line about «Acme»');
    expect(system).toContain('Text between « and » in these instructions was filled in from the lead\'s own data');
  });

  it('turns an answer that is not the JSON asked for into a malformed OutsideApiError', async () => {
    const lead = testLead();
    const research = await researched(lead);
    sandbox.malformNext(1, { endpoint: 'chatCompletions' });
    await expect(adapters.writer.write({ lead, research }, signal())).rejects.toMatchObject({
      name: 'OutsideApiError',
      api: 'personalization',
      failure: 'malformed',
    });
    // Only the next request was broken.
    await expect(adapters.writer.write({ lead, research }, signal())).resolves.toMatchObject({ model: 'sandbox/writer-1' });
  });
});

describe('parseOpener', () => {
  it('reads plain JSON and JSON inside a ```json fence', () => {
    const json = '{"message": "Saw the Lisbon office news.", "basis": "Acme opened a Lisbon office."}';
    expect(parseOpener(json)).toEqual({ message: 'Saw the Lisbon office news.', basis: 'Acme opened a Lisbon office.' });
    expect(parseOpener(`\`\`\`json\n${json}\n\`\`\``)).toEqual(parseOpener(json));
  });

  it('rejects prose, missing fields and empty strings', () => {
    expect(parseOpener('Sure! Here is your line.')).toBeUndefined();
    expect(parseOpener('{"message": "Hi there."}')).toBeUndefined();
    expect(parseOpener('{"message": "  ", "basis": "x"}')).toBeUndefined();
  });

  it('reads the outputs when the answer has them', () => {
    expect(parseOpener('{"message": "Hi.", "basis": "x", "outputs": {"ps": " P.S. hi "}}')).toEqual({ message: 'Hi.', basis: 'x', outputs: { ps: 'P.S. hi' } });
  });

  it('leaves what the line says to the quality gates: a placeholder is read, not refused', () => {
    // Refused here, it would be retried blindly; the gates send it back with the reason instead.
    expect(parseOpener('{"message": "Hi [First Name], congrats.", "basis": "x"}')).toEqual({ message: 'Hi [First Name], congrats.', basis: 'x' });
  });
});
