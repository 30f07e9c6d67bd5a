import { createPublicKey, createSecretKey, KeyObject, timingSafeEqual, verify as verifyWithKey } from 'node:crypto';
import { hmacSha256 } from '../core/hmac';
import type { AccessTokenAlgorithm } from '../core/settings';
import type { AccessTokenKeys } from './access-token-keys';

/** Longer than any token the issuer makes (about 300 bytes) by far; refused before any work. */
const MAX_TOKEN_LENGTH = 4096;
/** JWS compact serialisation (RFC 7515 §7.1): three base64url parts, none empty. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** base64url lengths of the two signatures: 32 bytes (HS256), 64 bytes r ‖ s (ES256, RFC 7518 §3.4). */
const SIGNATURE_LENGTH: Record<AccessTokenAlgorithm, number> = { HS256: 43, ES256: 86 };

/** `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive), else undefined. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const space = header.indexOf(' ');
  if (space !== 6 || header.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  const token = header.slice(7).trim();
  return token.length > 0 && !/\s/.test(token) ? token : undefined;
}

/**
 * Headers of tokens that verified, by their base64url text: the issuer writes the same header on
 * every token it signs with a key, so a request skips decoding and parsing it. Filled only after a
 * token's signature checked out, so a caller cannot fill it with headers of their own; a handful of
 * entries (one per signing key) and the oldest goes first.
 */
const verifiedHeaders = new Map<string, Readonly<Record<string, unknown>>>();
const VERIFIED_HEADERS_MAX = 16;

function rememberHeader(part: string, header: Record<string, unknown>): void {
  if (verifiedHeaders.has(part)) return;
  if (verifiedHeaders.size >= VERIFIED_HEADERS_MAX) verifiedHeaders.delete(verifiedHeaders.keys().next().value!);
  verifiedHeaders.set(part, Object.freeze(header));
}

/**
 * Tokens that verified, by their whole text: a client sends the same access token with every request
 * until it expires, and a request that brings one already verified skips the signature and the two
 * JSON parses. An entry keeps the key the signature checked out under; a hit is accepted only while
 * the token's `kid` still names that very key (a key taken out of the set, or replaced, ends its
 * tokens here too) under the same algorithm, and `exp` and `nbf` are checked against now on every hit.
 * Filled only after a token passed every check, so a caller cannot put a token of their own in it;
 * bounded, the oldest entry goes first. (A host's keys given as strings become a new KeyObject on
 * every lookup, so their tokens are verified in full every time.)
 */
interface VerifiedToken {
  algorithm: AccessTokenAlgorithm;
  kid: string | undefined;
  key: KeyObject;
  claims: Readonly<Record<string, unknown>>;
}
const verifiedTokens = new Map<string, VerifiedToken>();
const VERIFIED_TOKENS_MAX = 1024;

function rememberToken(token: string, entry: VerifiedToken): void {
  if (verifiedTokens.size >= VERIFIED_TOKENS_MAX) verifiedTokens.delete(verifiedTokens.keys().next().value!);
  verifiedTokens.set(token, entry);
}

/** `nbf`, if present, a number not after now; `exp` a number after now. */
function inDate(claims: Readonly<Record<string, unknown>>, nowSeconds: number): boolean {
  const { nbf, exp } = claims;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds)) return false;
  return typeof exp === 'number' && nowSeconds < exp;
}

function jsonObject(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The module's own keys are KeyObjects; a host's `AccessTokenKeys` may answer with a secret or a PEM string. */
function asKeyObject(algorithm: AccessTokenAlgorithm, key: KeyObject | string | undefined): KeyObject | undefined {
  if (typeof key !== 'string') return key;
  return algorithm === 'HS256' ? createSecretKey(Buffer.from(key, 'utf8')) : createPublicKey(key);
}

function signatureValid(algorithm: AccessTokenAlgorithm, key: KeyObject, signingInput: string, signature: string): boolean {
  if (signature.length !== SIGNATURE_LENGTH[algorithm]) return false;
  if (algorithm === 'HS256') {
    if (key.type !== 'secret') return false;
    // Compared as base64url text, like jwa: a signature spelled another way (the last character's
    // unused bits set) is refused, so a token has one spelling.
    const expected = Buffer.from(hmacSha256(key, signingInput).toString('base64url'), 'latin1');
    return timingSafeEqual(Buffer.from(signature, 'latin1'), expected);
  }
  if (key.type !== 'public' || key.asymmetricKeyType !== 'ec') return false;
  const raw = Buffer.from(signature, 'base64url');
  // The signature is public: a plain comparison is enough to refuse other spellings of it.
  if (raw.toString('base64url') !== signature) return false;
  return verifyWithKey('sha256', Buffer.from(signingInput, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }, raw);
}

/**
 * Verifies a compact JWS access token against the module's keys and returns its claims, or
 * undefined for any token that is not exactly right. Checks, in order: the shape (three base64url
 * parts); a header that is a JSON object whose `alg` is the module's one algorithm, with no `crit`
 * (no extension is understood, RFC 7515 §4.1.11) and a string `kid` if any; the key that `kid`
 * names; the signature (HMAC compared in constant time, or ECDSA P-256 as r ‖ s); a payload that is
 * a JSON object; `nbf`, if present, a number not after now; `exp` a number after now. Now is the
 * real clock in whole seconds (what jsonwebtoken used here before), unless given. The claims
 * themselves (issuer, audience, `typ`, `sub`, `sid`, `iat`, lifetime) are `JwtStrategy.validate`'s.
 * A token that verified before is answered from `verifiedTokens` (above) with the same, frozen claims.
 *
 * Our own code rather than jsonwebtoken (through passport-jwt): the algorithm and the key are fixed
 * per module, so verifying is one HMAC or ECDSA verification and two JSON parses. jsonwebtoken
 * decoded the token twice (once for our `alg`/`kid` check, once itself), ran jws's stream helpers
 * and jwa's key normalisation, and passport-jwt wrapped it in callbacks: in the bench's CPU
 * profiles at saturation (`BENCH_CPU_PROF=1 BENCH_ONLY=S1,S4`) jws, jwa, jsonwebtoken and
 * passport-jwt took about 35 µs of every authenticated request besides the HMAC. The attacks this
 * must refuse are test/token-attacks.e2e-spec.ts and the verifier's own spec, with jsonwebtoken as
 * the independent reference.
 */
export async function verifyAccessToken(
  token: string,
  keys: AccessTokenKeys,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<Readonly<Record<string, unknown>> | undefined> {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const known = verifiedTokens.get(token);
  if (known) {
    if (known.algorithm === keys.algorithm && (await keyFor(keys, known.kid)) === known.key) return inDate(known.claims, nowSeconds) ? known.claims : undefined;
    // Its key is gone or changed: the token is checked from scratch, as any other.
    verifiedTokens.delete(token);
  }
  if (!JWS_COMPACT.test(token)) return undefined;
  const headerEnd = token.indexOf('.');
  const payloadEnd = token.indexOf('.', headerEnd + 1);
  const headerPart = token.slice(0, headerEnd);
  const header = verifiedHeaders.get(headerPart) ?? jsonObject(headerPart);
  if (!header || header.alg !== keys.algorithm || header.crit !== undefined) return undefined;
  const { kid } = header;
  if (kid !== undefined && typeof kid !== 'string') return undefined;
  const key = await keyFor(keys, kid);
  if (!key) return undefined;
  if (!signatureValid(keys.algorithm, key, token.slice(0, payloadEnd), token.slice(payloadEnd + 1))) return undefined;
  rememberHeader(headerPart, header);
  const claims = jsonObject(token.slice(headerEnd + 1, payloadEnd));
  if (!claims || !inDate(claims, nowSeconds)) return undefined;
  const verified = Object.freeze(claims);
  rememberToken(token, { algorithm: keys.algorithm, kid, key, claims: verified });
  return verified;
}

/** The key `kid` names, as a KeyObject; undefined when there is none or the lookup fails. */
async function keyFor(keys: AccessTokenKeys, kid: string | undefined): Promise<KeyObject | undefined> {
  try {
    return asKeyObject(keys.algorithm, await keys.verificationKey(kid));
  } catch {
    return undefined;
  }
}
