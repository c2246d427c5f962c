/**
 * Which IP addresses a webhook may reach, and a DNS lookup for `node:http` that connects only to
 * those: the guard against server-side request forgery (a customer's webhook URL pointing at the
 * cloud metadata endpoint, the database, or anything else on our side of the network).
 *
 * Why at connect time and not only when the URL is submitted: a name can resolve to a public
 * address when it is checked and to 127.0.0.1 a second later (DNS rebinding). The guarded lookup
 * resolves once, refuses if any answer is not public, and hands the socket exactly the addresses
 * it checked, so there is no second resolution to race.
 *
 * What counts as public: an allowlist for IPv6 (global unicast 2000::/3 only) and a blocklist for
 * IPv4, both from IANA's special-purpose registries. Addresses that embed an IPv4 address are
 * judged by it: IPv4-mapped (::ffff:a.b.c.d), NAT64's well-known prefix (64:ff9b::/96) and 6to4
 * (2002:AABB:CCDD::/48). Teredo (2001::/32) is refused outright: its client address is obfuscated
 * and reached through relays, and no one hosts a webhook on it. Other transition forms
 * (IPv4-compatible ::a.b.c.d, SIIT's ::ffff:0:a.b.c.d, NAT64's local-use 64:ff9b:1::/48) lie
 * outside 2000::/3 and are refused with the rest.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIPv4, isIPv6, type LookupFunction } from 'node:net';

/** Named ranges a webhook may not reach; the first match names the refusal. */
const REFUSED_IPV4: ReadonlyArray<readonly [name: string, cidrs: readonly string[]]> = [
  ['this network', ['0.0.0.0/8']],
  ['private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']],
  ['shared address space', ['100.64.0.0/10']], // carrier-grade NAT
  ['loopback', ['127.0.0.0/8']],
  ['link-local', ['169.254.0.0/16']], // includes the cloud metadata address 169.254.169.254
  ['IETF protocol assignments', ['192.0.0.0/24']],
  ['documentation', ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24']],
  ['6to4 relay anycast', ['192.88.99.0/24']],
  ['benchmarking', ['198.18.0.0/15']],
  ['multicast', ['224.0.0.0/4']],
  ['broadcast', ['255.255.255.255/32']],
  ['reserved', ['240.0.0.0/4']],
];

const REFUSED_IPV6: ReadonlyArray<readonly [name: string, cidrs: readonly string[]]> = [
  ['unspecified', ['::/128']],
  ['loopback', ['::1/128']],
  ['unique local', ['fc00::/7']],
  ['link-local', ['fe80::/10']],
  ['multicast', ['ff00::/8']],
  ['teredo', ['2001::/32']],
  ['benchmarking', ['2001:2::/48']],
  ['IETF protocol assignments', ['2001::/23']],
  ['documentation', ['2001:db8::/32', '3fff::/20']],
  // Everything outside global unicast 2000::/3: site-local, discard-only, IPv4-compatible, ...
  ['not global unicast', ['::/3', '4000::/2', '8000::/1']],
];

function blockLists(family: 'ipv4' | 'ipv6', table: typeof REFUSED_IPV4): ReadonlyArray<readonly [string, BlockList]> {
  return table.map(([name, cidrs]) => {
    const list = new BlockList();
    for (const cidr of cidrs) {
      const [network = '', prefix = ''] = cidr.split('/');
      list.addSubnet(network, Number(prefix), family);
    }
    return [name, list] as const;
  });
}

const IPV4_LISTS = blockLists('ipv4', REFUSED_IPV4);
const IPV6_LISTS = blockLists('ipv6', REFUSED_IPV6);

/**
 * Why a webhook may not reach `address` (the refused range's name, e.g. `loopback`,
 * `IPv4-mapped private`), or undefined when the address is public. Anything that is not an IP
 * address is refused too.
 */
export function refusedRange(address: string): string | undefined {
  if (isIPv4(address)) return firstMatch(IPV4_LISTS, address, 'ipv4');
  // A zone (fe80::1%eth0) says which interface, not which address.
  const bare = address.split('%', 1)[0] ?? '';
  if (!isIPv6(bare)) return 'not an IP address';
  const words = ipv6Words(bare);
  if (words === undefined) return 'not an IP address';
  const embedded = embeddedIpv4(words);
  if (embedded !== undefined) {
    const inner = firstMatch(IPV4_LISTS, embedded.ipv4, 'ipv4');
    return inner === undefined ? undefined : `${embedded.kind} ${inner}`;
  }
  return firstMatch(IPV6_LISTS, bare, 'ipv6');
}

/** Whether a webhook may connect to `address`. */
export function isPublicAddress(address: string): boolean {
  return refusedRange(address) === undefined;
}

function firstMatch(lists: ReadonlyArray<readonly [string, BlockList]>, address: string, family: 'ipv4' | 'ipv6'): string | undefined {
  for (const [name, list] of lists) if (list.check(address, family)) return name;
  return undefined;
}

/** The IPv4 address an IPv6 address stands for, in the forms documented above. */
function embeddedIpv4(words: readonly number[]): { kind: string; ipv4: string } | undefined {
  const w = (index: number) => words[index] ?? 0;
  const zero = (from: number, to: number) => words.slice(from, to).every((word) => word === 0);
  const ipv4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  if (zero(0, 5) && w(5) === 0xffff) return { kind: 'IPv4-mapped', ipv4: ipv4(w(6), w(7)) };
  if (w(0) === 0x64 && w(1) === 0xff9b && zero(2, 6)) return { kind: 'NAT64', ipv4: ipv4(w(6), w(7)) };
  if (w(0) === 0x2002) return { kind: '6to4', ipv4: ipv4(w(1), w(2)) };
  return undefined;
}

/** The eight 16-bit words of an IPv6 address that `net.isIPv6` accepted (a trailing dotted quad included). */
function ipv6Words(address: string): number[] | undefined {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const split = (part: string | undefined) => (part === undefined || part === '' ? [] : part.split(':'));
  const head = split(halves[0]);
  const rest = split(halves[1]);
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const words = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest].map((word) => parseInt(word, 16));
  return words.length === 8 && words.every((word) => word >= 0 && word <= 0xffff) ? words : undefined;
}

/** A connection refused because the host's address is not public. Its message names no host or address. */
export class AddressNotAllowedError extends Error {
  readonly code = 'ERR_WEBHOOK_ADDRESS_NOT_ALLOWED';
  constructor() {
    super('webhook address not allowed');
    this.name = 'AddressNotAllowedError';
  }
}

/** Resolves a host name to every address it has (family 0: both). Replaceable in tests. */
export type Resolve = (hostname: string, family: 0 | 4 | 6) => Promise<readonly LookupAddress[]>;

/** The system resolver (getaddrinfo, so /etc/hosts counts), every address. */
export const systemResolve: Resolve = (hostname, family) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, family }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });

/**
 * A `lookup` for `http.request`/`net.connect` that resolves with `resolve`, fails with
 * `AddressNotAllowedError` when any address is not public, and otherwise gives the socket exactly
 * the addresses it checked. (Node does not call `lookup` for an IP literal: check those first.)
 * `allowNonPublic` turns the check off and keeps the resolver (local use, tests).
 */
export function guardedLookup(resolve: Resolve = systemResolve, allowNonPublic = false): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
    resolve(hostname, family).then(
      (addresses) => {
        const first = addresses[0];
        if (first === undefined) {
          const error: NodeJS.ErrnoException = new Error('host not found');
          error.code = 'ENOTFOUND';
          process.nextTick(callback, error, []);
        } else if (!allowNonPublic && !addresses.every((entry) => isPublicAddress(entry.address))) {
          process.nextTick(callback, new AddressNotAllowedError(), []);
        } else if (options.all === true) {
          process.nextTick(callback, null, addresses.map((entry) => ({ address: entry.address, family: entry.family })));
        } else {
          process.nextTick(callback, null, first.address, first.family);
        }
      },
      (error: unknown) => {
        process.nextTick(callback, error instanceof Error ? error : new Error('lookup failed'), []);
      },
    );
  };
}
