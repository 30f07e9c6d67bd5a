import { BadRequestException, HttpStatus, Injectable } from '@nestjs/common';
import { IsString, MaxLength } from 'class-validator';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { Request, Response } from 'express';
import { AppErrorCode, AppException } from '../core/app.exception';
import { authValidationPipe } from '../core/validation';
import { Clock } from '../core/clock';
import { RefreshTokenCodec } from '../sessions/refresh-token';
import type { IssuedTokens } from './auth.service';
import { RefreshDto, TokensDto } from './auth.dto';
import { AuthSettings } from '../core/settings';

/**
 * The refresh-token cookie's name over plain HTTP. Over HTTPS it is `__Host-refresh_token`: the
 * prefix makes browsers accept it only with `Secure`, `Path=/` and no `Domain`, so neither a
 * sibling subdomain nor a plain-http page can plant or overwrite it.
 */
export const REFRESH_COOKIE = 'refresh_token';
export const SECURE_REFRESH_COOKIE = `__Host-${REFRESH_COOKIE}`;

/** How one login or refresh hands out its refresh token. */
export type DeliveredBy = 'body' | 'cookie';

/** A login's or refresh's response body: `TokensDto`, without `refreshToken` when the cookie carries it. */
export type DeliveredTokens = Omit<TokensDto, 'refreshToken'> & { refreshToken?: string };

/** The body field's rules when the token must come in the body (the 400 a body-only client has always had). */
class BodyRefreshToken {
  @IsString()
  @MaxLength(512)
  refreshToken!: string;
}

const SECOND = 1000;

/**
 * The refresh token's transport (REFRESH_TOKEN_TRANSPORT / `refreshToken.transport`): JSON bodies,
 * an HttpOnly cookie, or either. Reads the one cookie itself, so host apps need no cookie-parser.
 *
 * `Secure` and the `__Host-` name follow `req.secure`: HTTPS to the service, or to a proxy that says
 * so in `X-Forwarded-Proto` when TRUST_PROXY trusts it. Over plain-http development the cookie has
 * neither (browsers would drop a `Secure` cookie there).
 */
@Injectable()
export class RefreshCookies {
  constructor(
    private readonly settings: AuthSettings,
    private readonly clock: Clock,
    private readonly codec: RefreshTokenCodec,
  ) {}

  /** Whether refresh tokens may travel in the cookie at all (`cookie` or `both`). */
  get enabled(): boolean {
    return this.settings.refreshToken.transport !== 'body';
  }

  /** The refresh token in the request's cookie, if cookies are enabled and it carries one. */
  read(req: Request): string | undefined {
    const header = req.headers.cookie;
    if (!this.enabled || typeof header !== 'string' || header === '') return undefined;
    return parseCookie(header)[cookieName(req)] || undefined;
  }

  /** How a login hands out its refresh token: the mode's, or in `both` mode what the client asked for (default body). */
  forLogin(requested: DeliveredBy | undefined): DeliveredBy {
    const mode = this.settings.refreshToken.transport;
    if (mode === 'both') return requested ?? 'body';
    if (requested !== undefined && requested !== mode) {
      throw new BadRequestException(`refreshTokenTransport must be ${mode}: this service hands out refresh tokens only in the ${mode}`);
    }
    return mode;
  }

  /**
   * The token a refresh presents, and so how its successor goes back. `body` mode: the body, as it
   * always was. `cookie` mode: the cookie only (a body token is a 400, a missing cookie a 401).
   * `both`: a body token if the client sent one, else the cookie.
   */
  async forRefresh(req: Request, body: RefreshDto): Promise<{ token: string; by: DeliveredBy }> {
    const mode = this.settings.refreshToken.transport;
    const inBody = body.refreshToken !== undefined && body.refreshToken !== null;
    if (mode === 'cookie') {
      if (body.refreshToken !== undefined) {
        throw new BadRequestException('refreshToken is not accepted in the body: this service reads it from the refresh-token cookie');
      }
      const cookie = this.read(req);
      if (!cookie) throw new AppException(AppErrorCode.INVALID_REFRESH_TOKEN);
      return { token: cookie, by: 'cookie' };
    }
    if (mode === 'both' && !inBody) {
      const cookie = this.read(req);
      if (cookie) return { token: cookie, by: 'cookie' };
    }
    if (!inBody) await authValidationPipe().transform(body, { type: 'body', metatype: BodyRefreshToken });
    return { token: body.refreshToken!, by: 'body' };
  }

  /** The response body; with cookie delivery the refresh token goes into the cookie instead. */
  deliver(req: Request, res: Response, by: DeliveredBy, issued: IssuedTokens): DeliveredTokens {
    if (by === 'body') return issued.tokens;
    const { refreshToken, ...rest } = issued.tokens;
    // Rounded up: the cookie lives until expires_at (a second past it at most, when the server refuses the token anyway).
    const maxAge = Math.max(0, Math.ceil((issued.refreshTokenExpiresAt.getTime() - this.clock.now().getTime()) / SECOND));
    this.setCookie(req, res, refreshToken, maxAge);
    return rest;
  }

  /**
   * Awaits work on a presented token (a refresh, a cookie logout). When the token is refused (401:
   * revoked, expired, reused or forged) and came in the cookie, the answer also clears the cookie;
   * other failures (database unavailable) leave it, since the token may still be good.
   */
  async clearOnRefusal<T>(req: Request, res: Response, by: DeliveredBy, pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (err) {
      if (by === 'cookie' && err instanceof AppException && err.getStatus() === HttpStatus.UNAUTHORIZED) this.clear(req, res);
      throw err;
    }
  }

  /** Whether the cookie's token is one of this session's (HMAC-checked; says nothing about it being current). */
  belongsTo(token: string, sessionId: string): boolean {
    return this.codec.parse(token)?.sessionId === sessionId;
  }

  /** Tells the browser to drop the cookie (`Max-Age=0`). */
  clear(req: Request, res: Response): void {
    this.setCookie(req, res, '', 0);
  }

  private setCookie(req: Request, res: Response, value: string, maxAge: number): void {
    const secure = req.secure;
    res.append(
      'Set-Cookie',
      stringifySetCookie({ name: cookieName(req), value, maxAge, path: '/', httpOnly: true, sameSite: 'strict', secure }),
    );
  }
}

function cookieName(req: Request): string {
  return req.secure ? SECURE_REFRESH_COOKIE : REFRESH_COOKIE;
}
