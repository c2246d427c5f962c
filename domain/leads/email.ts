/**
 * A practical email syntax check for lead lists: it catches what goes wrong in exports and
 * hand-made sheets (a missing domain, a space, two addresses in one cell, "n/a") without the
 * corners of RFC 5322 that no prospect's address uses (quoted local parts, IP-literal domains,
 * comments).
 *
 * Accepted input forms, as cells get pasted from mail clients: a bare address, `mailto:address`,
 * and `Display Name <address>`. Surrounding whitespace is ignored.
 *
 * Rules for the address itself: at most 254 characters; exactly one `@`; a local part of 1 to 64
 * letters, digits and ``!#$%&'*+/=?^_`{|}~-``, with dots only between them; a domain of at least two
 * dot-separated labels of letters, digits and inner hyphens (1 to 63 characters each); a top-level
 * label of two or more letters (or an `xn--` punycode label). Letters may be non-ASCII.
 */

const MAX_ADDRESS = 254;
const MAX_LOCAL = 64;
const MAX_LABEL = 63;

const LOCAL_PART = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const DOMAIN_LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?$/u;
const TOP_LEVEL_LABEL = /^(?:\p{L}{2,}|xn--[a-z0-9-]+)$/u;
const DISPLAY_NAME_FORM = /^[^<>]*<([^<>]*)>$/;
const MAILTO = /^mailto:/i;

/**
 * The address in `raw`, trimmed and lower-cased (the de-duplication key), or null when `raw`
 * is not a syntactically valid address.
 */
export function normalizeEmail(raw: string): string | null {
  let address = raw.trim();
  const displayed = DISPLAY_NAME_FORM.exec(address);
  if (displayed !== null) address = (displayed[1] ?? '').trim();
  address = address.replace(MAILTO, '').toLowerCase();

  if (address.length > MAX_ADDRESS || /\s/u.test(address)) return null;
  const parts = address.split('@');
  if (parts.length !== 2) return null;
  const [local = '', domain = ''] = parts;
  if (local.length > MAX_LOCAL || !LOCAL_PART.test(local)) return null;

  const labels = domain.split('.');
  const topLevel = labels.at(-1) ?? '';
  if (labels.length < 2 || !TOP_LEVEL_LABEL.test(topLevel)) return null;
  const labelsValid = labels.every((label) => label.length <= MAX_LABEL && DOMAIN_LABEL.test(label));
  return labelsValid ? address : null;
}

export function isValidEmail(raw: string): boolean {
  return normalizeEmail(raw) !== null;
}
