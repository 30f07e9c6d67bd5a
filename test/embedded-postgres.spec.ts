import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './support/net';
import { spawnServer } from './support/own-postgres';

/**
 * When the embedded PostgreSQL exits instead of starting, the error says why in PostgreSQL's own
 * words (the package rejects with no reason at all, and `npm start` printed only a guess).
 */
describe('EmbeddedDatabase start-up failure', () => {
  let dir: string;
  let holder: Server;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nra-embedded-fail-'));
    await chmod(dir, 0o755); // the server runs as the `postgres` system user when tests run as root
    port = await freePort();
    holder = createServer();
    await new Promise<void>((done) => holder.listen(port, '127.0.0.1', done));
  });

  afterAll(async () => {
    await new Promise((done) => holder?.close(done));
    await rm(dir, { recursive: true, force: true });
  });

  it("on a port another program holds, fails with PostgreSQL's reason (address in use)", async () => {
    const started = spawnServer({ dir: join(dir, 'data'), port, database: 'postgres' });
    const error = await started.then(
      async (server) => {
        await server.stop();
        return null;
      },
      (err: Error) => err,
    );
    expect(error).not.toBeNull();
    expect(error!.message).toContain(`Embedded PostgreSQL did not start on port ${port}`);
    expect(error!.message).toMatch(/PostgreSQL said: .*could not bind IPv4 address "127\.0\.0\.1": Address already in use/);
  }, 60_000);
});
