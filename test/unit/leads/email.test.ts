import { describe, expect, it } from 'vitest';
import { isValidEmail, normalizeEmail } from '../../../domain/leads/email.ts';

describe('normalizeEmail', () => {
  it.each([
    ['ava@northwind.example', 'ava@northwind.example'],
    ['  Ava.Stone@Northwind.Example  ', 'ava.stone@northwind.example'],
    ['first.last+tag@mail.acme.co.uk', 'first.last+tag@mail.acme.co.uk'],
    ["o'brien@pub.example", "o'brien@pub.example"],
    ['x_y-z@sub-domain.example.io', 'x_y-z@sub-domain.example.io'],
    ['mailto:sales@acme.example', 'sales@acme.example'],
    ['MAILTO:Sales@Acme.example', 'sales@acme.example'],
    ['Ava Stone <ava@northwind.example>', 'ava@northwind.example'],
    ['"Stone, Ava" <ava@northwind.example>', 'ava@northwind.example'],
    ['<ava@northwind.example>', 'ava@northwind.example'],
    ['jose@españa.example', 'jose@españa.example'],
    ['info@example.xn--p1ai', 'info@example.xn--p1ai'],
  ])('%j → %j', (raw, expected) => {
    expect(normalizeEmail(raw)).toBe(expected);
  });

  it.each([
    '',
    '   ',
    'bob@',
    '@acme.example',
    'bob',
    'bob@acme',
    'bob@acme.c',
    'bob@acme.123',
    'bob@@acme.example',
    'bob@acme@example.com',
    'bob smith@acme.example',
    'bob@acme .example',
    '.bob@acme.example',
    'bob.@acme.example',
    'bo..b@acme.example',
    'bob@-acme.example',
    'bob@acme-.example',
    'bob@acme..example',
    'bob@.acme.example',
    'bob@acme.example.',
    'a@b.co, c@d.co',
    'n/a',
    '(bob)@acme.example',
    'jess@ (work)',
    `${'a'.repeat(65)}@acme.example`,
    `a@${'b'.repeat(64)}.example`,
    `${'a'.repeat(60)}@${Array.from({ length: 4 }, () => 'b'.repeat(60)).join('.')}.example`,
  ])('%j is not a valid address', (raw) => {
    expect(normalizeEmail(raw)).toBeNull();
    expect(isValidEmail(raw)).toBe(false);
  });

  it('accepts the longest lengths the rules allow', () => {
    const local = 'a'.repeat(64);
    const domain = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(53)}.example`;
    expect(`${local}@${domain}`.length).toBe(254);
    expect(isValidEmail(`${local}@${domain}`)).toBe(true);
    expect(isValidEmail(`${local}@x${domain}`)).toBe(false);
  });
});
