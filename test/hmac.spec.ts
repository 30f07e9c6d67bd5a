import fc from 'fast-check';
import { createHmac, createSecretKey } from 'node:crypto';
import { HmacSha256, hmacSha256 } from '../src/core/hmac';

/** `HmacSha256` precomputes the key's pads and hashes one-shot; node's `createHmac` is the reference. */
describe('HmacSha256', () => {
  // Key lengths around the 64-byte block (a longer key is hashed first), messages of any length.
  const keys = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 63 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.uint8Array({ minLength: 65, maxLength: 300 }));
  const messages = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)));

  it('equals createHmac for keys shorter than, equal to and longer than the block, string and Buffer messages', () => {
    fc.assert(
      fc.property(keys, messages, (key, message) => {
        const expected = createHmac('sha256', Buffer.from(key)).update(message).digest('hex');
        const mac = new HmacSha256(Buffer.from(key));
        expect(mac.digest(message).toString('hex')).toBe(expected);
        // Nothing of one call is left to the next: the same object gives the same MAC again.
        expect(mac.digest(message).toString('hex')).toBe(expected);
        expect(hmacSha256(createSecretKey(Buffer.from(key)), message).toString('hex')).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('equals createHmac for messages longer than its buffer, and for shorter ones after them', () => {
    const key = Buffer.from('a 32-byte key for the long cases');
    const mac = new HmacSha256(Buffer.from(key));
    for (const length of [300, 1023, 1024, 1025, 5000, 40, 0, 2500, 3]) {
      const message = 'é'.repeat(length);
      expect(mac.digest(message).toString('hex')).toBe(createHmac('sha256', key).update(message).digest('hex'));
      const bytes = Buffer.alloc(length, length % 251);
      expect(mac.digest(bytes).toString('hex')).toBe(createHmac('sha256', key).update(bytes).digest('hex'));
    }
  });

  it('matches RFC 4231 test case 2 (key "Jefe")', () => {
    expect(new HmacSha256(Buffer.from('Jefe')).digest('what do ya want for nothing?').toString('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('a different key gives a different MAC, and the caller\'s key buffer is left as it was', () => {
    const key = Buffer.from('k'.repeat(32));
    const mac = new HmacSha256(key);
    expect(key.toString()).toBe('k'.repeat(32));
    expect(mac.digest('m').equals(new HmacSha256(Buffer.from('j'.repeat(32))).digest('m'))).toBe(false);
  });
});
