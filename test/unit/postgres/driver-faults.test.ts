/** The one driver fault a process survives, recognised by the stack the driver really throws (seen in `npm run chaos`). */
import { describe, expect, it } from 'vitest';
import { isDriverNullSocketWrite } from '../../../adapters/postgres/driver-faults.ts';

function typeError(message: string, stack: string): TypeError {
  const error = new TypeError(message);
  error.stack = `TypeError: ${message}\n${stack}`;
  return error;
}

describe('isDriverNullSocketWrite', () => {
  it("recognises postgres.js writing to a socket it just nulled, and nothing else", () => {
    const seen = typeError(
      "Cannot read properties of null (reading 'write')",
      '    at Immediate.nextWrite (file:///srv/app/node_modules/postgres/src/connection.js:255:22)\n    at process.processImmediate (node:internal/timers:574:21)',
    );
    expect(isDriverNullSocketWrite(seen)).toBe(true);
    // The same message from our own code, another frame of the driver, or another error type: not it.
    expect(isDriverNullSocketWrite(typeError("Cannot read properties of null (reading 'write')", '    at Object.<anonymous> (/srv/app/src/compose.ts:1:1)'))).toBe(false);
    expect(isDriverNullSocketWrite(typeError("Cannot read properties of null (reading 'query')", '    at Immediate.nextWrite (/srv/app/node_modules/postgres/src/connection.js:255:22)'))).toBe(false);
    expect(isDriverNullSocketWrite(new Error("Cannot read properties of null (reading 'write')"))).toBe(false);
  });
});
