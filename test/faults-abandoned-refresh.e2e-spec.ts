import { Client } from 'pg';
import { login } from './support/factories';
import { FaultsApp, send, sha256, startFaultsApp, waitFor } from './support/fault-harness';

/**
 * Faults: a client gives up on a refresh while the server still waits on the session row (held by
 * a row lock; nothing is killed, so the shared test server serves); the server then completes it.
 * The client's old token, sent again within the grace window, gets the successor: a refresh either
 * happened or not, and the client can always go on.
 */

describe('a refresh the client gave up on while it was in flight', () => {
  let f: FaultsApp;
  beforeAll(async () => {
    f = await startFaultsApp('faults_abandoned', 1, { ownServer: false });
  }, 120_000);
  afterAll(() => f?.close(), 60_000);

  it('either happened or not: the old token, sent again within the grace window, returns the successor, and the session lives on', async () => {
    const http = f.http;
    const tokens = await login(http, f.users[0], { deviceName: 'gave-up' });
    const locker = new Client({ connectionString: f.db.ownerUrl });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('select 1 from sessions where id = $1 for key share', [tokens.sessionId]);
      // The client gives up after 300 ms, while the server still waits on the row lock.
      const pending = http
        .post('/auth/refresh')
        .send({ refreshToken: tokens.refreshToken })
        .timeout(300)
        .then(
          (res) => ({ status: res.status as number | 'gave up' }),
          (err: { timeout?: unknown }) => ({ status: (err.timeout !== undefined ? 'gave up' : 'network') as number | 'gave up' | 'network' }),
        );
      await waitFor('the refresh to wait on the row lock', async () => ((await f.lockWaiters()).length === 1 ? true : undefined));
      expect(await pending).toEqual({ status: 'gave up' });
    } finally {
      // Releasing the lock lets the abandoned refresh run to its commit on the server.
      await locker.query('rollback').catch(() => undefined);
      await locker.end();
    }
    const successor = f.successorOf(tokens.refreshToken);
    // The refresh happened, though the client never learned it (wait for the server to finish it,
    // so the replay below is not racing it).
    await waitFor('the abandoned refresh to commit', async () =>
      (await f.sessionRow(tokens.sessionId))?.refresh_token_hash === sha256(successor) ? true : undefined,
    );
    await waitFor('the runtime backends to be idle', () =>
      f.db.asOwner(async (c) => ((await f.runtimeBackends(c, `state <> 'idle'`)).length === 0 ? true : undefined)),
    );

    const outcome = await send('gave-up', 'refresh', http.post('/auth/refresh').send({ refreshToken: tokens.refreshToken }));
    expect(outcome.sample.status).toBe(200);
    expect(outcome.res!.body.refreshToken).toBe(successor);
    const next = await http.post('/auth/refresh').send({ refreshToken: successor });
    expect(next.status).toBe(200);
    expect((await f.sessionRow(tokens.sessionId))?.is_revoked).toBe(false);
  });
});
