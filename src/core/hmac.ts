import { hash, KeyObject } from 'node:crypto';

const BLOCK_BYTES = 64;
const DIGEST_BYTES = 32;
/** Room for a message after the inner pad: an access token's signing input is about 300 bytes. */
const MESSAGE_ROOM = 1024;

/**
 * HMAC-SHA-256 (RFC 2104): H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)), as two one-shot `crypto.hash` calls
 * over buffers that begin with the key's two pads, worked out once (RFC 2104 §4).
 *
 * Why not `createHmac`, nor copies of precomputed hash states (what this did before): both make
 * native Hash or Hmac objects for every MAC, which cost their setup (on Node 24 with OpenSSL 3 an HMAC
 * context fetches its implementation from the provider store) and then the garbage collector's work
 * to finalise them; a one-shot hash makes no object. In a hot loop the three are within a microsecond
 * of each other and their order changes from run to run (`node bench/hmac.js`), so the choice rests on
 * the service under load. CPU profiles of `BENCH_AB=<the copied states' build> BENCH_ONLY=S1,S2
 * BENCH_RATE=250 BENCH_CPU_PROF=1` (both builds in one run, S1 and S2 requests alike): the hashing's
 * self time (the `crypto` hash functions, native work included) fell from 23.5 to 18.1 µs a request.
 * A refresh makes three MACs and two SHA-256s; an access token takes one MAC to sign, and one to
 * verify the first time it is seen. Checked against `createHmac` in test/hmac.spec.ts.
 *
 * The pads are key material and stay in this object's buffers for its lifetime, as the key itself
 * stays in its KeyObject and in the configuration it came from.
 */
export class HmacSha256 {
  /** K ⊕ ipad, then the message of the current call. */
  private inner: Buffer;
  /** K ⊕ opad, then the inner digest of the current call. */
  private readonly outer = Buffer.alloc(BLOCK_BYTES + DIGEST_BYTES);

  constructor(key: KeyObject | Buffer) {
    const given = key instanceof KeyObject ? key.export() : Buffer.from(key);
    // A key longer than the block is replaced by its hash (RFC 2104 §2).
    const raw = given.length > BLOCK_BYTES ? hash('sha256', given, 'buffer') : given;
    this.inner = Buffer.alloc(BLOCK_BYTES + MESSAGE_ROOM);
    this.inner.fill(0x36, 0, BLOCK_BYTES);
    this.outer.fill(0x5c, 0, BLOCK_BYTES);
    for (let i = 0; i < raw.length; i++) {
      this.inner[i] ^= raw[i];
      this.outer[i] ^= raw[i];
    }
    given.fill(0);
    raw.fill(0);
  }

  /** The MAC of `data` (a string is UTF-8, as with `createHmac(...).update(string)`). */
  digest(data: string | Buffer): Buffer {
    const length = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
    if (BLOCK_BYTES + length > this.inner.length) this.grow(length);
    if (typeof data === 'string') this.inner.write(data, BLOCK_BYTES, 'utf8');
    else data.copy(this.inner, BLOCK_BYTES);
    hash('sha256', this.inner.subarray(0, BLOCK_BYTES + length), 'buffer').copy(this.outer, BLOCK_BYTES);
    return hash('sha256', this.outer, 'buffer');
  }

  /** Room for a longer message than any so far (never needed for the module's own tokens). */
  private grow(length: number): void {
    const larger = Buffer.alloc(BLOCK_BYTES + Math.max(length, 2 * (this.inner.length - BLOCK_BYTES)));
    this.inner.copy(larger, 0, 0, BLOCK_BYTES);
    this.inner.fill(0);
    this.inner = larger;
  }
}

const byKey = new WeakMap<KeyObject, HmacSha256>();

/** HMAC-SHA-256 of `data` under a secret KeyObject; the key's pads are made on first use. */
export function hmacSha256(key: KeyObject, data: string | Buffer): Buffer {
  let mac = byKey.get(key);
  if (!mac) byKey.set(key, (mac = new HmacSha256(key)));
  return mac.digest(data);
}
