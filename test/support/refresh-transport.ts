import { parseSetCookie, SetCookie } from 'cookie';
import type { Response } from 'supertest';
import type Test from 'supertest/lib/test';
import TestAgent from 'supertest/lib/agent';
import { Tokens } from './factories';

/**
 * The two ways a client holds its refresh token (REFRESH_TOKEN_TRANSPORT): in JSON bodies, or in the
 * refresh-token cookie. Suites about rotation run once per transport through `refreshClient`, which
 * speaks either and hands the test the token it holds, so the assertions stay the same.
 */
export type Transport = 'body' | 'cookie';
export const TRANSPORTS: Transport[] = ['body', 'cookie'];

/** The environment that makes a test app use this transport. */
export const transportEnv = (transport: Transport): Record<string, string> =>
  transport === 'cookie' ? { REFRESH_TOKEN_TRANSPORT: 'cookie' } : {};

/** Every Set-Cookie header of a response, parsed. */
export function setCookies(res: Pick<Response, 'headers'>): SetCookie[] {
  const raw = res.headers['set-cookie'] as unknown;
  const lines = Array.isArray(raw) ? (raw as string[]) : typeof raw === 'string' ? [raw] : [];
  return lines.map((line) => parseSetCookie(line));
}

/** The refresh token a cookie-transport response sets (one cookie, named refresh_token over plain HTTP). */
export function cookieToken(res: Pick<Response, 'headers' | 'body'>): string | undefined {
  const cookies = setCookies(res).filter((c) => c.name === 'refresh_token');
  if (cookies.length !== 1) return undefined;
  return cookies[0].maxAge === 0 ? undefined : cookies[0].value;
}

export interface RefreshClient {
  transport: Transport;
  /** Signs in; `refreshToken` is the one the client holds, from the body or the cookie. */
  login(user: { email: string; password: string }, device?: { userAgent?: string; deviceName?: string }): Promise<Tokens>;
  /**
   * POST /auth/refresh presenting `token` the transport's way. A supertest request, so callers chain
   * `.expect(200)` as before; on a 200 `res.body.refreshToken` is the successor the client now holds.
   */
  refresh(token: string, userAgent?: string): Test;
}

export function refreshClient(http: TestAgent, transport: Transport): RefreshClient {
  const holdCookieToken = (res: Response): void => {
    if (transport !== 'cookie' || res.status !== 200) return;
    // Cookie transport never puts the refresh token in a body.
    if ('refreshToken' in (res.body as object)) throw new Error('cookie transport answered with refreshToken in the body');
    const token = cookieToken(res);
    if (!token) throw new Error('cookie transport answered 200 without setting the refresh-token cookie');
    (res.body as Tokens).refreshToken = token;
  };
  return {
    transport,
    async login(user, device = {}) {
      const req = http.post('/auth/login');
      if (device.userAgent) req.set('User-Agent', device.userAgent);
      const res = await req
        .send({ email: user.email, password: user.password, deviceName: device.deviceName })
        .expect(holdCookieToken)
        .expect(200);
      return res.body as Tokens;
    },
    refresh(token, userAgent) {
      const req = http.post('/auth/refresh');
      if (userAgent) req.set('User-Agent', userAgent);
      if (transport === 'cookie') return req.set('Cookie', `refresh_token=${token}`).send({}).expect(holdCookieToken);
      return req.send({ refreshToken: token });
    },
  };
}
