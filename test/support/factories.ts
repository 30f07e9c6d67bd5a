import { randomBytes } from 'node:crypto';
import TestAgent from 'supertest/lib/agent';

export interface TestUser {
  id: string;
  email: string;
  password: string;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
  sessionId: string;
}

export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}@example.test`;
}

export async function newUser(http: TestAgent, overrides: Partial<{ email: string; password: string; displayName: string }> = {}): Promise<TestUser> {
  const email = overrides.email ?? uniqueEmail();
  const password = overrides.password ?? `pw-${randomBytes(6).toString('hex')}`;
  const res = await http.post('/auth/register').send({ email, password, displayName: overrides.displayName }).expect(201);
  return { id: res.body.id, email, password };
}

export async function login(
  http: TestAgent,
  user: { email: string; password: string },
  device: { userAgent?: string; deviceName?: string; deviceType?: string } = {},
): Promise<Tokens> {
  const req = http.post('/auth/login');
  if (device.userAgent) req.set('User-Agent', device.userAgent);
  const res = await req
    .send({ email: user.email, password: user.password, deviceName: device.deviceName, deviceType: device.deviceType })
    .expect(200);
  return res.body as Tokens;
}

export const bearer = (tokens: { accessToken: string }): [string, string] => ['Authorization', `Bearer ${tokens.accessToken}`];
