import fc from 'fast-check';
import { isIP } from 'node:net';
import type { Client } from 'pg';
import { clientIpOf, normaliseIp } from '../src/core/ip';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * `normaliseIp` decides what goes into `sessions.ip_address` (inet) from the socket address or a
 * trusted X-Forwarded-For hop. Whatever it keeps must be accepted by PostgreSQL as it is (a
 * rejected value failed the sign-in with a 400) and be the address it was given.
 */
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20261129;

const zone = fc.stringMatching(/^[A-Za-z0-9._:%-]{0,10}$/);
const candidate = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4Extended(),
  fc.ipV4().map((v4) => `::ffff:${v4}`),
  fc.tuple(fc.ipV6(), zone).map(([v6, z]) => `${v6}%${z}`),
  fc.tuple(fc.ipV4(), zone).map(([v4, z]) => `::ffff:${v4}%${z}`),
  fc.string({ maxLength: 40 }),
);

/** PostgreSQL's verdict on a value as `inet` (15 has no pg_input_is_valid): its host text, or null. */
async function asInet(c: Client, value: string): Promise<string | null> {
  await c.query('savepoint probe');
  try {
    const { rows } = await c.query<{ host: string }>('select host($1::inet) as host', [value]);
    await c.query('release savepoint probe');
    return rows[0].host;
  } catch {
    await c.query('rollback to savepoint probe');
    return null;
  }
}

describe('normaliseIp (what a session records as its IP address)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(() => db?.drop());

  it.each([
    ['fe80::1%eth0', 'fe80::1'],
    ['fe80::1%1', 'fe80::1'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::ffff:1.2.3.4%eth0', '1.2.3.4'],
    ['2001:db8::1', '2001:db8::1'],
    ['203.0.113.9', '203.0.113.9'],
    ['1.2.3.4%eth0', null],
    ['203.0.113.9:4711', null],
    ['[::1]:80', null],
    ['0x7f.0.0.1', null],
    ['unknown', null],
    ['', null],
  ])('%j → %j', (input, expected) => {
    expect(normaliseIp(input)).toBe(expected);
  });

  it('keeps only values PostgreSQL stores as inet, each the address it was given', async () => {
    await db.asOwner(async (c) => {
      await c.query('begin');
      try {
        await fc.assert(
          fc.asyncProperty(candidate, async (raw) => {
            const kept = normaliseIp(raw);
            if (kept === null) return;
            // Stored as is (a rejected value failed the sign-in with a 400)…
            const stored = await asInet(c, kept);
            expect(stored).not.toBeNull();
            // …and the address that was given, less its IPv6 zone, an IPv4-mapped one as IPv4.
            const unzoned = isIP(raw) === 6 ? raw.replace(/%[\s\S]*$/, '') : raw;
            const given = isIP(kept) === 4 && unzoned.startsWith('::ffff:') ? unzoned.slice('::ffff:'.length) : unzoned;
            expect(await asInet(c, given)).toBe(stored);
          }),
          { seed: SEED, numRuns: 1500 },
        );
      } finally {
        await c.query('rollback');
      }
    });
  });
});

describe('clientIpOf (the request client address every consumer of a request records)', () => {
  it("is Express's req.ip normalised, read once per request however many ask; the socket address when there is no req.ip", () => {
    let reads = 0;
    const req = {
      socket: { remoteAddress: '10.0.0.9' },
      get ip() {
        reads++;
        return '::ffff:192.0.2.7';
      },
    } as unknown as Parameters<typeof clientIpOf>[0];
    expect(clientIpOf(req)).toBe('192.0.2.7');
    expect(clientIpOf(req)).toBe('192.0.2.7');
    expect(reads).toBe(1);
    const bare = { socket: { remoteAddress: 'fe80::1%eth0' } } as unknown as Parameters<typeof clientIpOf>[0];
    expect(clientIpOf(bare)).toBe('fe80::1');
    const none = { socket: {} } as unknown as Parameters<typeof clientIpOf>[0];
    expect(clientIpOf(none)).toBeNull();
    expect(clientIpOf(none)).toBeNull();
  });
});
