/**
 * The webhook address guard: which addresses a customer's webhook may reach (a table over the
 * special-purpose ranges, IPv4 and IPv6, and the IPv6 forms that embed an IPv4 address), and the
 * guarded DNS lookup that checks every answer before a socket may use it. No network is used:
 * the lookup is driven with a resolver that answers what each test needs.
 */
import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AddressNotAllowedError, guardedLookup, isPublicAddress, refusedRange, type Resolve } from '../../adapters/webhooks/address-guard.ts';

describe('refusedRange', () => {
  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '172.32.0.1', // just past 172.16.0.0/12
    '100.128.0.1', // just past 100.64.0.0/10
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8', // IPv4-mapped, judged by the IPv4 address
    '64:ff9b::808:808', // NAT64 of 8.8.8.8
    '2002:808:808::1', // 6to4 of 8.8.8.8
  ])('allows the public address %s', (address) => {
    expect(refusedRange(address)).toBeUndefined();
    expect(isPublicAddress(address)).toBe(true);
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'], // the cloud metadata endpoint
    ['169.254.0.1', 'link-local'],
    ['100.64.0.1', 'shared address space'],
    ['100.127.255.255', 'shared address space'],
    ['0.0.0.0', 'this network'],
    ['0.1.2.3', 'this network'],
    ['192.0.0.8', 'IETF protocol assignments'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.1', 'documentation'],
    ['203.0.113.1', 'documentation'],
    ['192.88.99.1', '6to4 relay anycast'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique local'],
    ['fd12:3456:789a::1', 'unique local'],
    ['ff02::1', 'multicast'],
    ['fec0::1', 'not global unicast'], // deprecated site-local
    ['100::1', 'not global unicast'], // discard-only
    ['::127.0.0.1', 'not global unicast'], // IPv4-compatible, deprecated
    ['::ffff:0:7f00:1', 'not global unicast'], // SIIT's IPv4-translated form
    ['64:ff9b:1::a00:1', 'not global unicast'], // NAT64 local-use prefix
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001::1', 'teredo'],
    ['2001:2::1', 'benchmarking'],
    ['2001:10::1', 'IETF protocol assignments'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback'], // the same, in hex
    ['::ffff:169.254.169.254', 'IPv4-mapped link-local'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['0:0:0:0:0:ffff:c0a8:0101', 'IPv4-mapped private'],
    ['64:ff9b::a00:1', 'NAT64 private'],
    ['64:ff9b::7f00:1', 'NAT64 loopback'],
    ['2002:a9fe:a9fe::1', '6to4 link-local'],
    ['2002:7f00:1::', '6to4 loopback'],
  ])('refuses %s (%s)', (address, range) => {
    expect(refusedRange(address)).toBe(range);
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['', 'localhost', 'example.com', '256.1.1.1', '1::2::3', '[::1]', '127.1'])('refuses %j, which is not an IP address', (text) => {
    expect(refusedRange(text)).toBe('not an IP address');
  });
});

describe('guardedLookup', () => {
  const v4 = (address: string): LookupAddress => ({ address, family: 4 });
  const v6 = (address: string): LookupAddress => ({ address, family: 6 });

  /** Calls the lookup as net.connect does and reports what the callback got. */
  function run(lookup: LookupFunction, options: { all?: boolean; family?: number }) {
    return new Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family: unknown }>((resolve) => {
      lookup('hooks.example.com', options, (error, address, family) => resolve({ error, address, family }));
    });
  }

  const answering =
    (...addresses: LookupAddress[]): Resolve =>
    () =>
      Promise.resolve(addresses);

  it('gives the socket every checked address when asked for all (what net.connect asks since Node 20)', async () => {
    const result = await run(guardedLookup(answering(v4('93.184.215.14'), v6('2606:2800:21f:cb07:6820:80da:af6b:8b2c'))), { all: true });
    expect(result.error).toBeNull();
    expect(result.address).toEqual([v4('93.184.215.14'), v6('2606:2800:21f:cb07:6820:80da:af6b:8b2c')]);
  });

  it('gives the first address and its family when asked for one', async () => {
    const result = await run(guardedLookup(answering(v4('8.8.8.8'), v4('8.8.4.4'))), {});
    expect(result).toEqual({ error: null, address: '8.8.8.8', family: 4 });
  });

  it.each([
    ['a private address alone', [v4('10.0.0.7')]],
    ['one private address among public ones', [v4('8.8.8.8'), v4('127.0.0.1')]],
    ['an IPv6 loopback among public ones', [v6('2606:4700:4700::1111'), v6('::1')]],
    ['the metadata address, IPv4-mapped', [v6('::ffff:169.254.169.254')]],
  ])('refuses %s with AddressNotAllowedError, naming no address', async (_name, addresses) => {
    for (const all of [true, false]) {
      const result = await run(guardedLookup(answering(...addresses)), { all });
      expect(result.error).toBeInstanceOf(AddressNotAllowedError);
      expect(result.error?.code).toBe('ERR_WEBHOOK_ADDRESS_NOT_ALLOWED');
      expect(result.error?.message).not.toMatch(/\d+\.\d+|::|example/);
    }
  });

  it('with allowNonPublic, resolves the same way and lets any address through', async () => {
    const result = await run(guardedLookup(answering(v4('127.0.0.1'), v6('::1')), true), { all: true });
    expect(result).toEqual({ error: null, address: [v4('127.0.0.1'), v6('::1')], family: undefined });
  });

  it('passes the family net.connect asks for to the resolver', async () => {
    const asked: Array<0 | 4 | 6> = [];
    const resolve: Resolve = (_host, family) => {
      asked.push(family);
      return Promise.resolve([v4('8.8.8.8')]);
    };
    await run(guardedLookup(resolve), { family: 4 });
    await run(guardedLookup(resolve), { family: 6 });
    await run(guardedLookup(resolve), {});
    expect(asked).toEqual([4, 6, 0]);
  });

  it('reports a name without addresses as ENOTFOUND, and passes a resolver error on', async () => {
    const empty = await run(guardedLookup(answering()), { all: true });
    expect(empty.error?.code).toBe('ENOTFOUND');
    const failure = Object.assign(new Error('getaddrinfo EAI_AGAIN hooks.example.com'), { code: 'EAI_AGAIN' });
    const failed = await run(guardedLookup(() => Promise.reject(failure)), { all: true });
    expect(failed.error).toBe(failure);
  });
});
