import { Logger } from '@nestjs/common';
import { createPublicKey, JsonWebKey, KeyObject } from 'node:crypto';
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
  /** How long a fetched key set is trusted before it is fetched again (default 10 minutes). */
  cacheMaxAgeMs?: number;
  /** Least time between two fetches triggered by unknown `kid`s (default 30 seconds). */
  minRefetchIntervalMs?: number;
  /** Timeout of one JWKS fetch (default 5 seconds). */
  fetchTimeoutMs?: number;
  /** Register the bearer guard globally (default true). */
  registerGlobalGuard?: boolean;
}

/**
 * A resource server's view of the issuer's keys: fetched from `jwksUri`, cached, and fetched again
 * when a token names a `kid` the cache lacks (key rotation) — at most once per
 * `minRefetchIntervalMs`, so a flood of forged `kid`s cannot turn into a flood of fetches.
 */
export class RemoteJwksKeys extends AccessTokenKeys {
  readonly algorithm = 'ES256' as const;
  readonly issuer: string;
  readonly audience: string;
  private readonly logger = new Logger('RemoteJwks');
  private keys = new Map<string, KeyObject>();
  private fetchedAt = 0;
  private lastAttempt = 0;
  private inflight?: Promise<void>;

  constructor(private readonly options: ResourceServerOptions) {
    super();
    if (!options.jwksUri && !options.publicKeys?.length) throw new Error('forResourceServer needs jwksUri or publicKeys');
    this.issuer = options.issuer;
    this.audience = options.audience;
    if (options.publicKeys) this.keys = toKeyMap(options.publicKeys);
  }

  async verificationKey(kid: string | undefined): Promise<KeyObject | undefined> {
    if (!kid) return undefined;
    if (!this.options.jwksUri) return this.keys.get(kid);
    const stale = Date.now() - this.fetchedAt > (this.options.cacheMaxAgeMs ?? 600_000);
    if (stale || (!this.keys.has(kid) && Date.now() - this.lastAttempt >= (this.options.minRefetchIntervalMs ?? 30_000))) {
      await this.refresh();
    }
    return this.keys.get(kid);
  }

  private refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    this.lastAttempt = Date.now();
    try {
      const res = await fetch(this.options.jwksUri!, { signal: AbortSignal.timeout(this.options.fetchTimeoutMs ?? 5000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { keys?: unknown };
      if (!Array.isArray(body.keys)) throw new Error('no "keys" array');
      this.keys = toKeyMap(body.keys as (JsonWebKey & { kid: string })[]);
      this.fetchedAt = Date.now();
    } catch (err) {
      // Keep the keys we had: a JWKS outage must not log everyone out.
      this.logger.warn(`Could not fetch the JWKS: ${(err as Error).message}`);
    }
  }
}

function toKeyMap(jwks: (JsonWebKey & { kid?: string; alg?: string; use?: string })[]): Map<string, KeyObject> {
  const map = new Map<string, KeyObject>();
  for (const jwk of jwks) {
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
