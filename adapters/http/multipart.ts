/**
 * A multipart/form-data body read as it arrives (busboy), for uploads too large to hold whole:
 * the text fields are kept (they are small), the file part is handed over as a stream as soon as
 * it starts. The fields may come before or after the file; they are complete once the whole body
 * has been read, which happens whatever the reader of the file does: a file part it stops reading
 * is drained.
 */
import { Readable } from 'node:stream';
import { Busboy, type BusboyFileStream } from '@fastify/busboy';
import { ProblemError } from './problem.ts';

/** A file part of the form, streamed. */
export class StreamedFile {
  readonly name: string;
  /** The part's declared Content-Type, as written (may be empty). */
  readonly type: string;
  readonly #stream: BusboyFileStream;

  constructor(name: string, type: string, stream: BusboyFileStream) {
    this.name = name;
    this.type = type;
    this.#stream = stream;
  }

  /** The part's bytes; read it once. Leaving early drains the rest, so the form goes on. */
  async *chunks(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of this.#stream) yield chunk as Uint8Array;
    } finally {
      this.drain();
    }
  }

  /** Reads the part to its end without keeping it. */
  drain(): void {
    if (!this.#stream.readableEnded && !this.#stream.destroyed) this.#stream.resume();
  }
}

export interface StreamedForm {
  /**
   * The file part named `fileField`, when its first byte can be read; `undefined` when the form
   * ended without one. Rejects like `fields`.
   */
  readonly file: Promise<StreamedFile | undefined>;
  /**
   * Each field's first value (a text, or the file part), once the whole body has been read.
   * Rejects with a 400 ProblemError for a body that is not multipart/form-data, and with
   * `tooLarge()` once the body passes `maxBytes`.
   */
  readonly fields: Promise<ReadonlyMap<string, string | StreamedFile>>;
}

export interface StreamedFormOptions {
  readonly fileField: string;
  /** The whole body's limit, multipart framing included. */
  readonly maxBytes: number;
  readonly tooLarge: () => Error;
}

const NOT_MULTIPART = 'The body is not valid multipart/form-data.';

export function readStreamedForm(request: Request, options: StreamedFormOptions): StreamedForm {
  const fields = new Map<string, string | StreamedFile>();
  let resolveFile!: (file: StreamedFile | undefined) => void;
  let resolveFields!: (fields: ReadonlyMap<string, string | StreamedFile>) => void;
  let rejectBoth!: (error: Error) => void;
  const file = new Promise<StreamedFile | undefined>((resolve, reject) => {
    resolveFile = resolve;
    rejectBoth = (error) => reject(error);
  });
  const all = new Promise<ReadonlyMap<string, string | StreamedFile>>((resolve, reject) => {
    resolveFields = resolve;
    const rejectFile = rejectBoth;
    rejectBoth = (error) => {
      rejectFile(error);
      reject(error);
    };
  });
  // Whoever awaits only one of them must not leave the other as an unhandled rejection.
  file.catch(() => {});
  all.catch(() => {});

  const body = request.body;
  let parser: ReturnType<typeof Busboy>;
  try {
    if (body === null) throw new Error('no body');
    parser = Busboy({
      headers: { 'content-type': request.headers.get('content-type') ?? '' },
      // A part is a file when it names one, as for FormData.
      isPartAFile: (_field, _type, fileName) => fileName !== undefined,
    });
  } catch {
    rejectBoth(new ProblemError(400, NOT_MULTIPART));
    return { file, fields: all };
  }

  const files: BusboyFileStream[] = [];
  let failure: Error | undefined;
  const fail = (error: Error) => {
    if (failure !== undefined) return;
    failure = error;
    rejectBoth(error);
    // A reader of the file learns it from its stream.
    for (const stream of files) if (!stream.readableEnded) stream.destroy(error);
  };

  parser.on('field', (name, value) => {
    if (!fields.has(name)) fields.set(name, value);
  });
  parser.on('file', (name, stream, fileName, _encoding, mimeType) => {
    files.push(stream);
    if (name !== options.fileField || fields.has(name)) {
      stream.resume(); // only the first value of a name counts, as with FormData.get
      return;
    }
    const part = new StreamedFile(fileName, mimeType, stream);
    fields.set(name, part);
    resolveFile(part);
  });
  parser.on('finish', () => {
    if (failure !== undefined) return;
    resolveFile(undefined);
    resolveFields(fields);
  });
  parser.on('error', (error: unknown) => fail(overLimit !== undefined && error === overLimit ? overLimit : new ProblemError(400, NOT_MULTIPART)));

  let size = 0;
  let overLimit: Error | undefined;
  const counted = Readable.from(
    (async function* () {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > options.maxBytes) throw (overLimit = options.tooLarge());
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
  counted.on('error', (error) => fail(error === overLimit ? error : new ProblemError(400, NOT_MULTIPART)));
  counted.pipe(parser);
  return { file, fields: all };
}
