import { Injectable } from '@nestjs/common';
import { createHash, createPrivateKey, createPublicKey, createSecretKey, KeyObject } from 'node:crypto';
import type { AccessTokenAlgorithm } from '../core/settings';
import { AuthSettings } from '../core/settings';
import { Clock } from '../core/clock';

/** A public JWK as published at /.well-known/jwks.json. */
export interface PublicJwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  kid: string;
  alg: string;
  use: 'sig';
}

/**
 * Where the access-token verifier gets its pinned settings and keys: the issuing service's own keys
 * (`LocalAccessTokenKeys`) or a resource server's view of a remote JWKS (`RemoteJwksKeys`).
 */
export abstract class AccessTokenKeys {
  abstract readonly algorithm: AccessTokenAlgorithm;
  abstract readonly issuer: string;
  abstract readonly audience: string;
  /** The key that verifies a token with this `kid` (undefined: unknown or retired key → 401). */
  abstract verificationKey(kid: string | undefined): Promise<string | KeyObject | undefined>;

  /**
   * "Now" for the verifier's own checks (a token's `iat` may not be later). Real time here, for a
   * resource server; the issuer's keys answer with the `Clock` its tokens' `iat` comes from.
   */
  now(): Date {
    return new Date();
  }
}

/** RFC 7638 JWK thumbprint, used as the default `kid`. */
export function jwkThumbprint(jwk: { kty?: string; crv?: string; x?: string; y?: string }): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

export function toPublicJwk(key: KeyObject, kid: string, alg: string): PublicJwk {
  const { kty, crv, x, y } = key.export({ format: 'jwk' }) as { kty: string; crv?: string; x?: string; y?: string };
  return { kty, crv, x, y, kid, alg, use: 'sig' };
}

interface RetiredKey {
  jwk: PublicJwk;
  key: KeyObject;
  /** When its last tokens expire (rotation time + access TTL); undefined: kept while configured. */
  retiresAt?: number;
}

/**
 * The issuing service's keys. HS256: one shared secret, nothing published. ES256: the current P-256
 * key signs (with its `kid`); it and the configured previous public keys are published as a JWKS and
 * accepted, each previous one until its last tokens have expired.
 */
@Injectable()
export class LocalAccessTokenKeys extends AccessTokenKeys {
  readonly algorithm: AccessTokenAlgorithm;
  readonly issuer: string;
  readonly audience: string;
  readonly keyId?: string;
  /**
   * The HS256 secret or the ES256 private key, as a KeyObject made once: `createHmac` with a raw
   * secret imports it again on every call.
   */
  private readonly signing: KeyObject;
  private readonly current?: { jwk: PublicJwk; key: KeyObject };
  private readonly retired: RetiredKey[];

  constructor(
    config: AuthSettings,
    private readonly clock: Clock,
  ) {
    super();
    const auth = config.accessToken;
    this.algorithm = auth.algorithm;
    this.issuer = auth.issuer;
    this.audience = auth.audience;
    if (auth.algorithm === 'HS256') {
      this.signing = createSecretKey(Buffer.from(auth.secret, 'utf8'));
      this.retired = [];
      return;
    }
    const privateKey = createPrivateKey(auth.privateKeyPem!);
    const publicKey = createPublicKey(privateKey);
    const kid = auth.keyId ?? jwkThumbprint(publicKey.export({ format: 'jwk' }));
    this.signing = privateKey;
    this.keyId = kid;
    this.current = { jwk: toPublicJwk(publicKey, kid, 'ES256'), key: publicKey };
    this.retired = auth.previousPublicKeys
      .filter((k) => k.kid !== kid)
      .map((k) => {
        const { rotatedAt, ...jwk } = k;
        const key = createPublicKey({ key: jwk, format: 'jwk' });
        return {
          jwk: toPublicJwk(key, k.kid, 'ES256'),
          key,
          retiresAt: rotatedAt ? Date.parse(rotatedAt) + auth.ttlSeconds * 1000 : undefined,
        };
      });
  }

  /** The `Clock` that `iat` is signed from. */
  override now(): Date {
    return this.clock.now();
  }

  /** The key to sign with: the HS256 secret or the ES256 private key. */
  signingKey(): KeyObject {
    return this.signing;
  }

  async verificationKey(kid: string | undefined): Promise<KeyObject | undefined> {
    if (this.algorithm === 'HS256') return kid === undefined ? this.signing : undefined;
    if (kid === this.current!.jwk.kid) return this.current!.key;
    return this.liveRetired().find((k) => k.jwk.kid === kid)?.key;
  }

  /** The JSON Web Key Set to publish (empty for HS256: a shared secret is never published). */
  jwks(): { keys: PublicJwk[] } {
    if (!this.current) return { keys: [] };
    return { keys: [this.current.jwk, ...this.liveRetired().map((k) => k.jwk)] };
  }

  private liveRetired(): RetiredKey[] {
    const now = this.clock.now().getTime();
    return this.retired.filter((k) => k.retiresAt === undefined || k.retiresAt > now);
  }
}
