import { resolveAuthSettings } from '../src/core/settings';
import { ConfigError, loadConfig } from '../src/config/load-config';

const SECRETS = { accessToken: { secret: 'test-access-secret-0123456789abcdef0123456789' }, refreshToken: { secret: 'test-refresh-secret-0123456789abcdef012345678' } };

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ NODE_ENV: 'test', ...env });
    return [];
  } catch (err) {
    return (err as ConfigError).problems;
  }
};

describe('session cap and audit retention settings', () => {
  it('default to no cap, evict_oldest and 90 days of audit events', () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    expect(resolveAuthSettings({ ...config.auth, database: undefined })).toMatchObject({ sessions: { maxPerUser: 0, limitPolicy: 'evict_oldest' }, audit: { retentionSeconds: 90 * 86_400 } });
    expect(resolveAuthSettings(SECRETS)).toMatchObject({ sessions: { maxPerUser: 0, limitPolicy: 'evict_oldest' }, audit: { retentionSeconds: 90 * 86_400 } });
  });

  it('reads SESSION_MAX_PER_USER, SESSION_LIMIT_POLICY and AUDIT_RETENTION, and refuses bad values by name', () => {
    const config = loadConfig({ NODE_ENV: 'test', SESSION_MAX_PER_USER: '3', SESSION_LIMIT_POLICY: 'deny', AUDIT_RETENTION: '0' });
    expect(config.auth.sessions).toMatchObject({ maxPerUser: 3, limitPolicy: 'deny' });
    expect(config.auth.audit?.retentionSeconds).toBe(0);
    expect(problems({ SESSION_MAX_PER_USER: '-1' }).join()).toMatch(/SESSION_MAX_PER_USER/);
    expect(problems({ SESSION_MAX_PER_USER: 'three' }).join()).toMatch(/SESSION_MAX_PER_USER/);
    expect(problems({ SESSION_LIMIT_POLICY: 'evict_newest' })).toEqual(['SESSION_LIMIT_POLICY must be one of: evict_oldest, deny']);
    expect(problems({ AUDIT_RETENTION: '-5' }).join()).toMatch(/AUDIT_RETENTION/);
  });

  it('AuthModule options sessions.maxPerUser, sessions.limitPolicy and audit.retentionSeconds are taken and checked', () => {
    expect(resolveAuthSettings({ ...SECRETS, sessions: { maxPerUser: 5, limitPolicy: 'deny' }, audit: { retentionSeconds: 3600 } })).toMatchObject({
      sessions: { maxPerUser: 5, limitPolicy: 'deny' },
      audit: { retentionSeconds: 3600 },
    });
    expect(() => resolveAuthSettings({ ...SECRETS, sessions: { maxPerUser: -1 } })).toThrow(/sessions\.maxPerUser/);
    expect(() => resolveAuthSettings({ ...SECRETS, sessions: { maxPerUser: 1.5 } })).toThrow(/sessions\.maxPerUser/);
    expect(() => resolveAuthSettings({ ...SECRETS, sessions: { limitPolicy: 'newest' as never } })).toThrow(/sessions\.limitPolicy/);
    expect(() => resolveAuthSettings({ ...SECRETS, audit: { retentionSeconds: -1 } })).toThrow(/audit\.retentionSeconds/);
  });
});
