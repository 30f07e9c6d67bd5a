import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Browser, BrowserContext, chromium, Cookie, Page, Response as PageResponse } from 'playwright-core';
import { bearer, uniqueEmail } from './support/factories';
import { freePort } from './support/net';
import { createTestApp, TestApp } from './support/test-app';
import { CHROMIUM, describeInBrowser as chromiumSuite, requireChromium } from './support/chromium';

/**
 * The example web client (examples/web, served by the service at /example/ with
 * REFRESH_TOKEN_TRANSPORT=cookie) in a real headless Chromium: sign-up and sign-in, the refresh token
 * kept out of page scripts, silent restore on reload, devices, revocation from elsewhere, sign-out, and
 * a page on another origin that tries to use the cookie. Uses Debian's Chromium like
 * test/swagger-ui.e2e-spec.ts (CHROMIUM_PATH for another build); playwright-core never downloads one.
 */
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
const SCREENSHOT = join(ARTIFACTS, 'web-client.png');
const SIGNED_OUT_SCREENSHOT = join(ARTIFACTS, 'web-client-signed-out.png');
const FAILURE_SCREENSHOT = join(ARTIFACTS, 'web-client-failure.png');
const FAILURE_DOM = join(ARTIFACTS, 'web-client-failure.html');
const WAIT = 15_000;

const describeInBrowser = chromiumSuite('test/web-client.e2e-spec.ts');

const RECORD_CSP_VIOLATIONS = `
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')');
  });
`;

/** A page an attacker controls on another origin (another port of the same host: same site, other origin). */
const ATTACKER_PAGE = '<!doctype html><title>another origin</title><p>Nothing to see here.</p>';

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

describeInBrowser('the example web client (examples/web) in Chromium, refresh token in the cookie', () => {
  let t: TestApp | undefined;
  let attacker: Server | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  let attackerOrigin: string;
  const email = uniqueEmail('web');
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const consoleErrors: string[] = [];
  const failedRequests: string[] = [];
  const appResponses: { method: string; path: string; status: number }[] = [];

  beforeAll(async () => {
    requireChromium();
    t = await createTestApp({ env: { REFRESH_TOKEN_TRANSPORT: 'cookie', EXAMPLE_WEB_ENABLED: 'true' } });
    origin = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    attacker = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(ATTACKER_PAGE));
    const attackerPort = await freePort();
    await new Promise<void>((resolve) => attacker!.listen(attackerPort, '127.0.0.1', resolve));
    attackerOrigin = `http://127.0.0.1:${attackerPort}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: WAIT,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext({ viewport: { width: 900, height: 800 } });
    page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    await page.addInitScript(RECORD_CSP_VIOLATIONS);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
    page.on('requestfailed', (r) => failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText} (in: ${expect.getState().currentTestName})`));
    page.on('response', (r) => {
      if (r.url().startsWith(origin)) appResponses.push({ method: r.request().method(), path: new URL(r.url()).pathname, status: r.status() });
    });
  });

  afterAll(async () => {
    await browser?.close().catch((e) => console.error('closing Chromium failed', e));
    attacker?.closeAllConnections();
    await new Promise((resolve) => (attacker ? attacker.close(resolve) : resolve(undefined)));
    await t?.close();
  });

  /** Keeps evidence of a failing step (screenshot and DOM), then fails. */
  async function step(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: FAILURE_SCREENSHOT, fullPage: true }).catch(() => undefined);
      await writeFile(FAILURE_DOM, await page.content().catch(() => '')).catch(() => undefined);
      throw e;
    }
  }

  const signedIn = () => page.locator('#signed-in').waitFor({ state: 'visible' });
  const signedOut = () => page.locator('#signed-out').waitFor({ state: 'visible' });
  const refreshCookie = async (): Promise<Cookie | undefined> => (await context.cookies(origin)).find((c) => c.name === 'refresh_token');
  const currentSessionId = async (): Promise<string> => (await page.locator('#devices li.current').getAttribute('data-session-id'))!;
  const session = async (id: string): Promise<Record<string, any>> => (await t!.db.sessionRow(id))!;
  /** Another client of the same account (say, a phone app), through the API. */
  const otherClient = async (deviceName: string) =>
    (await t!.http.post('/auth/login').send({ email, password, deviceName }).expect(200)).body as { accessToken: string; sessionId: string };

  it('signs up and in; the page lists this device as current; document.cookie lacks the refresh token and the jar holds it HttpOnly, SameSite=Strict', () =>
    step(async () => {
      await Promise.all([SCREENSHOT, SIGNED_OUT_SCREENSHOT, FAILURE_SCREENSHOT, FAILURE_DOM].map((f) => rm(f, { force: true })));
      expect((await page.goto(`${origin}/example/`))?.status()).toBe(200);
      await signedOut();
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: SIGNED_OUT_SCREENSHOT, fullPage: true });

      const signUp = page.locator('#sign-up');
      await signUp.getByLabel('Email').fill(email);
      await signUp.getByLabel('Display name').fill('Web Reader');
      await signUp.getByLabel('Password').fill(password);
      await signUp.getByRole('button').click();
      await signedIn();
      await expect(page.locator('#who').innerText()).resolves.toBe(`Web Reader (${email})`);
      const rows = page.locator('#devices li');
      await expect(rows.count()).resolves.toBe(1);
      await expect(page.locator('#devices li.current .badge').isVisible()).resolves.toBe(true);

      const cookie = await refreshCookie();
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/', secure: false });
      const sessionId = await currentSessionId();
      expect((await session(sessionId)).refresh_token_hash).toBe(sha256(cookie!.value));
      // Nothing a page script can read holds it.
      const visible = (await page.evaluate('JSON.stringify([document.cookie, Object.entries(localStorage), Object.entries(sessionStorage)])')) as string;
      expect(visible).not.toContain(cookie!.value);
      expect(visible).not.toContain(cookie!.value.split('.')[1]);
      expect(await page.evaluate('document.cookie')).not.toContain('refresh_token');
    }));

  it('a reload restores the sign-in without the password, through a refresh that rotates the cookie', () =>
    step(async () => {
      const before = await refreshCookie();
      const sessionId = await currentSessionId();
      const refreshed = page.waitForResponse((r: PageResponse) => r.url() === `${origin}/auth/refresh`);
      await page.reload();
      expect((await refreshed).status()).toBe(200);
      await signedIn();
      await expect(page.locator('#sign-in input[name=password]').inputValue()).resolves.toBe('');
      expect(await currentSessionId()).toBe(sessionId);
      const after = await refreshCookie();
      expect(after!.value).not.toBe(before!.value);
      expect((await session(sessionId)).refresh_token_hash).toBe(sha256(after!.value));
    }));

  it('renames this device and revokes another one', () =>
    step(async () => {
      const phone = await otherClient('Phone');
      await page.locator('#reload').click();
      const phoneRow = page.locator(`#devices li[data-session-id="${phone.sessionId}"]`);
      await phoneRow.waitFor();
      await expect(phoneRow.locator('.name').innerText()).resolves.toBe('Phone');

      const current = page.locator('#devices li.current');
      await current.getByRole('button', { name: 'Rename' }).click();
      await current.locator('input[name=deviceName]').fill('My laptop');
      await current.getByRole('button', { name: 'Save' }).click();
      await page.locator('#devices li.current .name', { hasText: 'My laptop' }).waitFor();
      expect((await session(await currentSessionId())).device_name).toBe('My laptop');

      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      await phoneRow.getByRole('button', { name: 'Revoke' }).click();
      await phoneRow.waitFor({ state: 'detached' });
      expect(await session(phone.sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'user_revoked' });
      await t!.http.get('/auth/me').set(...bearer(phone)).expect(401);
    }));

  it('a page on another origin (another port), not allowed, cannot refresh or log out with the cookie: 403, the token hash unchanged', () =>
    step(async () => {
      const sessionId = await currentSessionId();
      const rowBefore = await session(sessionId);
      const cookieBefore = await refreshCookie();

      const evil = await context.newPage();
      evil.setDefaultTimeout(WAIT);
      /** Submits a form from the other origin's page (the classic CSRF): a navigation, so its answer is observable. */
      async function postFormFromOtherOrigin(path: string) {
        await evil.goto(attackerOrigin);
        const answered = evil.waitForResponse((r) => r.url() === origin + path);
        // A string, because this runs in the page (the test's TypeScript has no DOM types).
        await evil.evaluate(`(() => {
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = ${JSON.stringify(origin + path)};
          document.body.append(form);
          form.submit();
        })()`);
        const r = await answered;
        await evil.waitForURL(origin + path);
        const headers = await r.request().allHeaders();
        return { path, status: r.status(), sentCookie: (headers.cookie ?? '').includes('refresh_token='), origin: headers.origin };
      }
      const seen = [await postFormFromOtherOrigin('/auth/refresh'), await postFormFromOtherOrigin('/auth/logout')];
      // The same with fetch() in no-cors mode (no preflight): the answer is opaque to the page, so the
      // service's log says what happened to them.
      await evil.goto(attackerOrigin);
      await evil.evaluate(async (target) => {
        for (const path of ['/auth/refresh', '/auth/logout']) {
          await fetch(target + path, { method: 'POST', credentials: 'include', mode: 'no-cors' }).catch(() => undefined);
        }
      }, origin);
      await evil.close();

      expect(seen).toEqual([
        { path: '/auth/refresh', status: 403, sentCookie: true, origin: attackerOrigin },
        { path: '/auth/logout', status: 403, sentCookie: true, origin: attackerOrigin },
      ]);
      expect(await session(sessionId)).toEqual(rowBefore);
      expect((await refreshCookie())!.value).toBe(cookieBefore!.value);
      // The page itself still works.
      await page.locator('#reload').click();
      await page.locator('#devices li.current').waitFor();
      const refusals = t!.logs.entries().filter((e) => e.event === 'auth.csrf.refused');
      expect(refusals.map((e) => [e.path, e.reason])).toEqual([
        ['/auth/refresh', 'origin_not_allowed'],
        ['/auth/logout', 'origin_not_allowed'],
        ['/auth/refresh', 'origin_not_allowed'],
        ['/auth/logout', 'origin_not_allowed'],
      ]);
    }));

  it("revoking the page's session from another client makes the page's next call fail, and it shows the signed-out state", () =>
    step(async () => {
      const sessionId = await currentSessionId();
      const other = await otherClient('Tablet');
      await t!.http.delete(`/sessions/${sessionId}`).set(...bearer(other)).expect(204);

      await page.locator('#reload').click();
      await signedOut();
      await expect(page.locator('#message').innerText()).resolves.toBe('You have been signed out.');
      expect(await refreshCookie()).toBeUndefined(); // the refused refresh cleared it
      await page.reload();
      await signedOut();
    }));

  it('signs in again and signs out: the session is revoked as logout, the cookie is gone, and a reload stays signed out', () =>
    step(async () => {
      const signIn = page.locator('#sign-in');
      await signIn.getByLabel('Email').fill(email);
      await signIn.getByLabel('Password').fill(password);
      await signIn.getByLabel('Device name').fill('Second try');
      await signIn.getByRole('button').click();
      await signedIn();
      const sessionId = await currentSessionId();
      expect((await session(sessionId)).device_name).toBe('Second try');

      await page.locator('#sign-out').click();
      await signedOut();
      expect(await session(sessionId)).toMatchObject({ is_revoked: true, revoked_reason: 'logout' });
      expect(await refreshCookie()).toBeUndefined();
      await page.reload();
      await signedOut();
    }));

  it('raised no CSP violations or uncaught errors, and every refused request to the app was one the journey expects', async () => {
    expect(appResponses).toEqual(
      expect.arrayContaining([
        { method: 'GET', path: '/example/', status: 200 },
        { method: 'GET', path: '/example/app.js', status: 200 },
        { method: 'GET', path: '/example/style.css', status: 200 },
        { method: 'POST', path: '/auth/register', status: 201 },
        { method: 'POST', path: '/auth/login', status: 200 },
        { method: 'POST', path: '/auth/refresh', status: 200 },
        { method: 'PATCH', path: expect.stringMatching(/^\/sessions\//), status: 200 },
        { method: 'DELETE', path: expect.stringMatching(/^\/sessions\//), status: 204 },
        { method: 'POST', path: '/auth/logout', status: 204 },
      ]),
    );
    // Loading while signed out asks for a refresh (401), and so does a page whose session was revoked.
    const refused = appResponses.filter((r) => r.status >= 400);
    expect(refused.every((r) => r.status === 401 && ['/auth/refresh', '/sessions', '/auth/me'].includes(r.path))).toBe(true);
    expect(await page.evaluate('window.__cspViolations')).toEqual([]);
    // Chromium reports each non-2xx answer as a "Failed to load resource" console error.
    expect(consoleErrors.filter((e) => !/^Failed to load resource: the server responded with a status of 401/.test(e))).toEqual([]);
    expect(failedRequests).toEqual([]);
  });
});
