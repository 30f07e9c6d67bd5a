import fc from 'fast-check';
import { normaliseEmail } from '../src/users/email';
import { uniqueEmail } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20261130;

describe('normaliseEmail: the one rule for storing, looking up and counting an email', () => {
  it('makes canonically equivalent spellings one address (NFC and NFD of josé), and trims and lower-cases', () => {
    const nfc = 'José@Example.test'.normalize('NFC');
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    expect(normaliseEmail(nfd)).toBe(normaliseEmail(nfc));
    expect(normaliseEmail(`  ${nfc}\t`)).toBe('josé@example.test'.normalize('NFC'));
  });

  it('folds compatibility forms (full-width letters) into the plain ones', () => {
    expect(normaliseEmail('ａｄａ@example.test')).toBe('ada@example.test');
  });

  it("lower-cases without a locale: 'İ' (U+0130) becomes 'i' + U+0307, not 'i'", () => {
    expect(normaliseEmail('alİce@example.test')).toBe('ali\u0307ce@example.test');
    expect(normaliseEmail('alİce@example.test')).not.toBe(normaliseEmail('alice@example.test'));
  });

  it('is idempotent: normalising a normalised email changes nothing (any Unicode input)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }), (a, b) => {
        for (const s of [a, b]) expect(normaliseEmail(normaliseEmail(s))).toBe(normaliseEmail(s));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });
});

describe('emails over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  it('treats the NFC and NFD forms of one address as one account: the second registration is 409, both sign in', async () => {
    const nfc = `josé-${Date.now()}@example.test`.normalize('NFC');
    const nfd = nfc.normalize('NFD');
    const password = 'a password for josé';
    const created = await t.http.post('/auth/register').send({ email: nfd, password }).expect(201);
    expect(created.body.email).toBe(nfc);
    await t.http.post('/auth/register').send({ email: nfc, password }).expect(409);
    await t.http.post('/auth/register').send({ email: ` ${nfc.toUpperCase()} `, password }).expect(409);
    for (const email of [nfc, nfd, nfd.toUpperCase()]) await t.http.post('/auth/login').send({ email, password }).expect(200);
    const stored = await t.db.asOwner(async (c) => (await c.query('select email from users where id = $1', [created.body.id])).rows[0].email);
    expect(stored).toBe(nfc);
  });

  it("keeps a dotted capital I (U+0130) spelling apart from the ASCII account, in sign-in as in registration", async () => {
    const ascii = uniqueEmail('alice');
    const password = 'alice’s password';
    await t.http.post('/auth/register').send({ email: ascii, password }).expect(201);
    const dotted = ascii.replace(/i/g, 'İ');
    await t.http.post('/auth/login').send({ email: dotted, password }).expect(401);
    await t.http.post('/auth/register').send({ email: dotted, password }).expect(201);
  });
});
