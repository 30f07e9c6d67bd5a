import { Logger } from '@nestjs/common';
import { createPublicKey, JsonWebKey, KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AccessTokenKeys } from './access-token-keys';

export interface ResourceServerOptions {
  /** Where the issuing service publishes its keys, e.g. https://auth.example.com/.well-known/jwks.json */
  jwksUri?: string;
  /** Or fixed public JWKs (each with a `kid`), for deployments that ship keys instead of fetching them. */
  publicKeys?: (JsonWebKey & { kid: string })[];
  issuer: string;
  audience: string;
  /** Default ES256, the only asymmetric algorithm the issuer signs with. */
  algorithm?: 'ES256';
  /**
   * Age of the key set (since the last successful fetch) after which it is refreshed in the
   * background — requests keep being answered from the cached keys meanwhile (default 10 minutes).
   */
  cacheMaxAgeMs?: number;
  /**
   * Least time from the end of one fetch attempt (successful or not) to the start of the next
   * (default 30 seconds); doubled for each further consecutive failure, up to 5 minutes.
   */
  minRefetchIntervalMs?: number;
  /** Timeout of one JWKS fetch (default 5 seconds). */
  fetchTimeoutMs?: number;
  /** Register the bearer guard globally (default true). */
  registerGlobalGuard?: boolean;
}

/** Internal construction options of `RemoteJwksKeys` (not part of `ResourceServerOptions`, the public API). */
export interface RemoteJwksInternals {
  /** Monotonic time in milliseconds, for tests; defaults to performance.now(). */
  now?: () => number;
}

/** Longest wait between two attempts while the endpoint keeps failing (unless `minRefetchIntervalMs` is longer). */
const MAX_BACKOFF_MS = 300_000;

/**
 * A resource server's view of the issuer's keys: fetched from `jwksUri` and cached.
 *
 * - Stale-while-revalidate: a token whose `kid` is cached is verified with the cached key at once,
 *   however old the cache; once it is older than `cacheMaxAgeMs` that request also starts a
 *   refresh in the background. A failing or hanging endpoint never delays such requests.
 * - A request waits for a fetch only when its `kid` is not cached (first use, key rotation), and
 *   only if the backoff allows one — or one is already in flight, which it then shares.
 * - Backoff: at most one fetch in flight; after an attempt ends, the next may start no earlier than
 *   `minRefetchIntervalMs` later (default 30 s). After n consecutive failures that wait is
 *   `minRefetchIntervalMs · 2^(n-1)`, capped at 5 minutes (30 s, 60 s, 120 s, 240 s, then 300 s
 *   with the default); a success resets it. So neither an outage nor a flood of forged `kid`s turns
 *   into a flood of fetches, and an outage gives one warning per attempt, not one per request.
 * - A failed fetch keeps the keys we had: a JWKS outage must not log everyone out.
 *
 * Why not jose's `createRemoteJWKSet` (besides jose not being a dependency): its resolver awaits a
 * reload whenever its cache is older than `cacheMaxAge`, and its cooldown only starts after a
 * successful fetch — so while the endpoint fails or hangs, every verification fetches again and
 * waits for it (and a failed reload fails the verification). There is no stale-while-revalidate and
 * no backoff after failures, which is what this class adds.
 */
export class RemoteJwksKeys extends AccessTokenKeys {
  readonly algorithm = 'ES256' as const;
  readonly issuer: string;
  readonly audience: string;
  private readonly logger = new Logger('RemoteJwks');
  private keys = new Map<string, KeyObject>();
  /** The monotonic clock (performance.now unless a test supplies its own): a wall-clock step cannot stall or hasten fetches. */
  private readonly monotonicNow: () => number;
  // Times on that clock:
  /** When the last successful fetch ended (-Infinity: never, e.g. only `publicKeys` so far). */
  private fetchedAt = -Infinity;
  /** When the last fetch attempt, successful or not, ended (-Infinity: none yet). */
  private attemptEndedAt = -Infinity;
  /** Failed attempts since the last successful one. */
  private failures = 0;
  /** The one fetch in flight; it never rejects. */
  private inflight?: Promise<void>;

  constructor(
    private readonly options: ResourceServerOptions,
    internals: RemoteJwksInternals = {},
  ) {
    super();
    this.monotonicNow = internals.now ?? (() => performance.now());
    if (!options.jwksUri && !options.publicKeys?.length) throw new Error('forResourceServer needs jwksUri or publicKeys');
    this.issuer = options.issuer;
    this.audience = options.audience;
    if (options.publicKeys) this.keys = toKeyMap(options.publicKeys);
  }

  async verificationKey(kid: string | undefined): Promise<KeyObject | undefined> {
    if (!kid) return undefined;
    if (!this.options.jwksUri) return this.keys.get(kid);
    const cached = this.keys.get(kid);
    if (cached) {
      // Answer from the cache now; a stale cache is refreshed behind this request, never in front of it.
      if (this.monotonicNow() - this.fetchedAt >= (this.options.cacheMaxAgeMs ?? 600_000) && this.mayFetch()) void this.refresh();
      return cached;
    }
    // Not cached (first use or a rotated key): a fetch may bring it, if the backoff allows one.
    if (this.mayFetch()) await this.refresh();
    return this.keys.get(kid);
  }

  /**
   * Resolves once no fetch is in flight (at once if none is), with the attempt's outcome recorded.
   * For tests: a refresh started behind a request cannot be awaited otherwise.
   */
  async settled(): Promise<void> {
    while (this.inflight) await this.inflight;
  }

  /** Whether a request may start a fetch now (or join the one in flight, which costs nothing). */
  private mayFetch(): boolean {
    return this.inflight !== undefined || this.monotonicNow() >= this.attemptEndedAt + this.backoffMs();
  }

  /** The wait after the last attempt: `minRefetchIntervalMs`, doubled per further consecutive failure, capped. */
  private backoffMs(): number {
    const min = this.options.minRefetchIntervalMs ?? 30_000;
    if (this.failures <= 1) return min;
    return Math.max(min, Math.min(min * 2 ** (this.failures - 1), MAX_BACKOFF_MS));
  }

  /** Starts a fetch, or returns the one in flight. Never rejects (also when nobody awaits it). */
  private refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys()
      .catch(() => undefined) // fetchKeys handles its own errors; this is only a safety net
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    const timeoutMs = this.options.fetchTimeoutMs ?? 5000;
    try {
      let res: Response;
      try {
        res = await fetch(this.options.jwksUri!, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        throw new Error(e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `${e.message}${e.cause?.code ? ` (${e.cause.code})` : ''}`);
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        throw new Error(`HTTP ${res.status}`);
      }
      // Our own messages only: never echo the body (or a parser's excerpt of it) into the log.
      const body = (await res.json().catch(() => {
        throw new Error('the response is not JSON');
      })) as { keys?: unknown } | null;
      if (!Array.isArray(body?.keys)) throw new Error('no "keys" array');
      const keys = toKeyMap(body.keys as (JsonWebKey & { kid: string })[]);
      // An ES256 issuer always publishes its current key: an empty set is a broken answer, not a rotation.
      if (keys.size === 0) throw new Error('no usable ES256 key in the set');
      this.keys = keys;
      this.fetchedAt = this.monotonicNow();
      this.failures = 0;
    } catch (err) {
      // Keep the keys we had: a JWKS outage must not log everyone out.
      this.failures++;
      this.logger.warn(
        `Could not fetch the JWKS: ${(err as Error).message}; still using the ${this.keys.size} cached key(s), next attempt in ${Math.round(this.backoffMs() / 1000)} s at the earliest`,
      );
    } finally {
      this.attemptEndedAt = this.monotonicNow();
    }
  }
}

function toKeyMap(jwks: (JsonWebKey & { kid?: string; alg?: string; use?: string })[]): Map<string, KeyObject> {
  const map = new Map<string, KeyObject>();
  for (const jwk of jwks) {
    if (typeof jwk !== 'object' || jwk === null) continue;
    if (typeof jwk.kid !== 'string' || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || 'd' in jwk) continue;
    if ((jwk.alg && jwk.alg !== 'ES256') || (jwk.use && jwk.use !== 'sig')) continue;
    try {
      map.set(jwk.kid, createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' }));
    } catch {
      // skip unusable entries
    }
  }
  return map;
}
