import { createHash, randomBytes } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsObjectLeadFileStore } from '../../adapters/nats/file-store.ts';
import { FileNotFoundError } from '../../ports/lead-file-store.port.ts';
import { connectTestNats, deleteStreams, testNames } from '../support/nats.ts';

const { bucket } = testNames();
let nc: NatsConnection;
let store: NatsObjectLeadFileStore;

beforeAll(async () => {
  nc = await connectTestNats();
  store = await NatsObjectLeadFileStore.open(nc, { bucket });
});

afterAll(async () => {
  await deleteStreams(nc, `OBJ_${bucket}`);
  await nc.close();
});

/** The chunks one by one, as an upload arrives. */
async function* upload(chunks: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const chunk of chunks) {
    await setImmediate();
    yield chunk;
  }
}

describe('NatsObjectLeadFileStore', () => {
  it('round-trips a 3 MB file, streamed chunk by chunk both ways', async () => {
    const chunks = Array.from({ length: 48 }, () => new Uint8Array(randomBytes(64 * 1024)));
    const sent = createHash('sha256');
    for (const chunk of chunks) sent.update(chunk);

    await store.put('run-1/leads.csv', upload(chunks), { fileName: 'leads.csv' });

    const received = createHash('sha256');
    let size = 0;
    let reads = 0;
    for await (const chunk of await store.get('run-1/leads.csv')) {
      received.update(chunk);
      size += chunk.byteLength;
      reads += 1;
    }
    expect(size).toBe(3 * 1024 * 1024);
    expect(reads).toBeGreaterThan(1);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
  });

  it('opens an existing bucket again', async () => {
    const again = await NatsObjectLeadFileStore.open(nc, { bucket });
    await again.put('small', upload([new TextEncoder().encode('email\na@b.test\n')]), { fileName: 'small.csv' });
    const chunks: Uint8Array[] = [];
    for await (const chunk of await store.get('small')) chunks.push(chunk);
    expect(new TextDecoder().decode(Buffer.concat(chunks))).toBe('email\na@b.test\n');
  });

  it('throws FileNotFoundError for a missing or deleted key, and deletes idempotently', async () => {
    await expect(store.get('never-stored')).rejects.toBeInstanceOf(FileNotFoundError);

    await store.put('to-delete', upload([new Uint8Array([1, 2, 3])]), { fileName: 'x.csv' });
    await store.delete('to-delete');
    await store.delete('to-delete');
    await expect(store.get('to-delete')).rejects.toBeInstanceOf(FileNotFoundError);
  });

  it('deletes leaving nothing of the file, not even the record of its name', async () => {
    await store.put('runs/erased', upload([new TextEncoder().encode('email\njane@doe.test\n')]), { fileName: 'jane-doe-contacts.csv' });
    const jsm = await jetstreamManager(nc);
    const meta = `$O.${bucket}.M.${Buffer.from('runs/erased').toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`;
    const traces = async () => ((await jsm.streams.info(`OBJ_${bucket}`, { subjects_filter: '>' })).state.subjects ?? {})[meta] ?? 0;
    expect(await traces()).toBe(1);
    await store.delete('runs/erased');
    expect(await traces()).toBe(0);
    await expect(store.get('runs/erased')).rejects.toBeInstanceOf(FileNotFoundError);
  });
});
