import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Browser, chromium, Locator, Page } from 'playwright-core';
import { setUserRole } from '../src/users/user-roles';
import { uniqueEmail } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';
import { CHROMIUM, describeInBrowser as chromiumSuite, requireChromium } from './support/chromium';

/**
 * Swagger UI in a real (headless) Chromium: the README's walkthrough ("Try it in Swagger UI") step by
 * step — register, log in, paste the access token into Authorize, list sessions, sign a second device
 * out, refresh, log out and clear Authorize — done by clicking through /docs, as a reader would.
 * Uses Debian's Chromium (`apt-get install -y chromium`, or another build via CHROMIUM_PATH);
 * playwright-core never downloads a browser.
 */
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
const SCREENSHOT = join(ARTIFACTS, 'swagger-ui.png');
const FAILURE_SCREENSHOT = join(ARTIFACTS, 'swagger-ui-failure.png');
const FAILURE_DOM = join(ARTIFACTS, 'swagger-ui-failure.html');
const WAIT = 15_000;

const describeInBrowser = chromiumSuite('test/swagger-ui.e2e-spec.ts');

/**
 * The README's "Try it in Swagger UI" steps: per numbered step, what it names in bold (operations,
 * Authorize). The browser test below does these steps in this order.
 */
const WALKTHROUGH = [
  ['POST /auth/register'],
  ['POST /auth/login'],
  ['Authorize'],
  ['GET /sessions'],
  ['POST /auth/login', 'GET /sessions', 'DELETE /sessions/{id}'],
  ['POST /auth/refresh'],
  ['POST /auth/logout', 'GET /sessions', 'Authorize'],
];

/** The bold names of each numbered step of the README's walkthrough; its buttons must be ones the UI has. */
function readmeWalkthrough(): string[][] {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const section = /^## Try it in Swagger UI\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  const steps = section.split(/^\d+\. /m).slice(1);
  for (const step of steps) {
    const buttons = [...step.matchAll(/(?<!\*)\*([^*\n]+)\*(?!\*)/g)].map((m) => m[1]);
    expect(buttons.filter((b) => !['Execute', 'Authorize', 'Close', 'Logout', 'bearer'].includes(b))).toEqual([]);
  }
  return steps.map((step) => [...step.matchAll(/\*\*([^*]+)\*\*/g)].map((m) => m[1]));
}

/** Records, in the page, every Content-Security-Policy violation (helmet sets the policy). */
const RECORD_CSP_VIOLATIONS = `
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')');
  });
`;

describeInBrowser('Swagger UI at /docs in Chromium', () => {
  let t: TestApp | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let origin: string;
  const consoleErrors: string[] = [];
  const failedRequests: string[] = [];
  const appResponses: { method: string; path: string; status: number }[] = [];
  /** The account the journey registers and signs in with (the admin test below promotes it). */
  const reader: { email?: string; password?: string; id?: string; sessionId?: string } = {};

  beforeAll(async () => {
    requireChromium();
    t = await createTestApp();
    origin = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: WAIT,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(WAIT);
    await page.addInitScript(RECORD_CSP_VIOLATIONS);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
    page.on('requestfailed', (r) => {
      if (r.url().startsWith(origin)) failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
    });
    page.on('response', (r) => {
      if (r.url().startsWith(origin)) appResponses.push({ method: r.request().method(), path: new URL(r.url()).pathname, status: r.status() });
    });
  });

  afterAll(async () => {
    // Each step runs even when an earlier one throws, so neither Chromium nor the app is left running.
    await browser?.close().catch((e) => console.error('closing Chromium failed', e));
    await t?.close();
  });

  /**
   * Opens an operation the way a reader does: a click on its summary. With tryItOutEnabled its
   * fields are editable and Execute is there at once: no "Try it out" button anywhere to press.
   */
  async function open(operationId: string): Promise<Locator> {
    const op = page.locator(`#${operationId}`);
    await op.waitFor();
    if (!/\bis-open\b/.test((await op.getAttribute('class')) ?? '')) await op.locator('.opblock-summary-control').click();
    await op.locator('button.execute').waitFor();
    expect(await page.locator('button', { hasText: /^\s*Try it out\s*$/ }).count()).toBe(0);
    return op;
  }

  /**
   * Clicks Execute (after Clear, when an earlier response is shown) and returns the live response
   * as the panel shows it: status, body text and the curl command.
   */
  async function execute(op: Locator, method: string, path: string): Promise<{ status: string; body: string; curl: string }> {
    const clear = op.locator('button.btn-clear');
    if (await clear.isVisible()) {
      await clear.click();
      await op.locator('.responses-wrapper .live-responses-table').waitFor({ state: 'detached' });
    }
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === path),
      op.locator('button.execute').click(),
    ]);
    const live = op.locator('.responses-wrapper .live-responses-table');
    const status = live.locator('tbody .response-col_status').first();
    await status.waitFor();
    const body = live.locator('.response-col_description .highlight-code code').first();
    const curl = op.locator('.curl-command .curl, .curl-command code').first();
    const statusText = (await status.innerText()).trim();
    // A 204 has no body to show.
    const bodyText = statusText === '204' ? '' : (await body.waitFor(), await body.innerText());
    return { status: statusText, body: bodyText, curl: await curl.innerText() };
  }

  /**
   * The Authorize dialog, opened from the button at the top right: its "bearer" scheme, where the
   * access token goes (the dialog lists the refresh-token cookie's scheme too).
   */
  async function authorizeDialog(): Promise<Locator> {
    await page.locator('.auth-wrapper button.authorize').click();
    const modal = page.locator('.modal-ux');
    await modal.waitFor();
    return modal.locator('.auth-container').filter({ has: page.locator('h4', { hasText: /^bearer\b/ }) });
  }

  /** Close, and the dialog is gone. */
  async function closeDialog(bearerScheme: Locator): Promise<void> {
    await bearerScheme.locator('.modal-btn.btn-done').click();
    await page.locator('.modal-ux').waitFor({ state: 'detached' });
  }

  /** Authorize → the access token into bearer → Authorize → Close. */
  async function authorize(accessToken: string): Promise<void> {
    const bearerScheme = await authorizeDialog();
    await bearerScheme.locator('input[type=text]').fill(accessToken);
    await bearerScheme.locator('.modal-btn.auth.authorize').click();
    // Once authorized, the dialog masks the value and offers "Logout" (aria-label "Remove authorization").
    await bearerScheme.locator('button.modal-btn[aria-label="Remove authorization"]').waitFor();
    await closeDialog(bearerScheme);
    await page.locator('.auth-wrapper button.authorize.locked').waitFor();
  }

  it('the README walkthrough names, step by step, what the browser test below does', () => {
    expect(readmeWalkthrough()).toEqual(WALKTHROUGH);
  });

  it('follows the README walkthrough in Swagger UI: register, log in, Authorize, sessions, a second device signed out, refresh, logout and clearing Authorize', async () => {
    const email = uniqueEmail('swagger');
    const password = `pw-${randomBytes(6).toString('hex')}`;
    await Promise.all([SCREENSHOT, FAILURE_SCREENSHOT, FAILURE_DOM].map((f) => rm(f, { force: true })));
    try {
      const docs = await page.goto(`${origin}/docs`);
      expect(docs?.status()).toBe(200);

      // 1. POST /auth/register: the example body replaced by a fresh account.
      const register = await open('operations-auth-AuthController_register');
      const registerBody = register.locator('textarea.body-param__text');
      expect(JSON.parse(await registerBody.inputValue())).toHaveProperty('email'); // the docs ship an example body
      await registerBody.fill(JSON.stringify({ email, password, displayName: 'Swagger Reader' }, null, 2));
      const registered = await execute(register, 'POST', '/auth/register');
      expect(registered.status).toBe('201');
      expect(JSON.parse(registered.body)).toMatchObject({ email, displayName: 'Swagger Reader', id: expect.any(String) });
      Object.assign(reader, { email, id: JSON.parse(registered.body).id, password });

      // 2. POST /auth/login; the token is read from the response body panel.
      const login = await open('operations-auth-AuthController_login');
      await login.locator('textarea.body-param__text').fill(JSON.stringify({ email, password, deviceName: 'Swagger UI' }, null, 2));
      const loggedIn = await execute(login, 'POST', '/auth/login');
      expect(loggedIn.status).toBe('200');
      const tokens = JSON.parse(loggedIn.body) as { accessToken: string; refreshToken: string; sessionId: string; tokenType: string };
      expect(tokens).toMatchObject({ tokenType: 'Bearer', accessToken: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/), sessionId: expect.any(String) });

      // 3. Authorize: paste the bearer token, authorize, close the dialog.
      await authorize(tokens.accessToken);

      // 4. GET /sessions with the pasted token.
      const sessions = await open('operations-sessions-SessionsController_list');
      const listed = await execute(sessions, 'GET', '/sessions');
      expect(listed.curl).toContain(`Authorization: Bearer ${tokens.accessToken}`);
      expect(listed.status).toBe('200');
      expect(JSON.parse(listed.body)).toEqual([expect.objectContaining({ id: tokens.sessionId, current: true, deviceName: 'Swagger UI' })]);
      expect(listed.body).toContain('"current": true');

      // 5. A second login, both sessions listed, the new one signed out with DELETE /sessions/{id}.
      const second = await execute(login, 'POST', '/auth/login');
      expect(second.status).toBe('200');
      const secondSession = (JSON.parse(second.body) as { sessionId: string }).sessionId;
      expect(secondSession).not.toBe(tokens.sessionId);
      const both = await execute(sessions, 'GET', '/sessions');
      expect((JSON.parse(both.body) as { id: string }[]).map((s) => s.id).sort()).toEqual([tokens.sessionId, secondSession].sort());
      const revoke = await open('operations-sessions-SessionsController_revoke');
      await revoke.locator('tr[data-param-name="id"] input').fill(secondSession);
      expect((await execute(revoke, 'DELETE', `/sessions/${secondSession}`)).status).toBe('204');
      const one = await execute(sessions, 'GET', '/sessions');
      expect((JSON.parse(one.body) as { id: string }[]).map((s) => s.id)).toEqual([tokens.sessionId]);

      // 6. POST /auth/refresh with the refresh token from step 2: new tokens for the same session.
      const refresh = await open('operations-auth-AuthController_refresh');
      await refresh.locator('textarea.body-param__text').fill(JSON.stringify({ refreshToken: tokens.refreshToken }, null, 2));
      const refreshed = await execute(refresh, 'POST', '/auth/refresh');
      expect(refreshed.status).toBe('200');
      const rotated = JSON.parse(refreshed.body) as { refreshToken: string; sessionId: string };
      expect(rotated.sessionId).toBe(tokens.sessionId);
      expect(rotated.refreshToken).not.toBe(tokens.refreshToken);

      // 7. POST /auth/logout: its description says to clear Authorize; until then the revoked token is sent (401).
      const logout = await open('operations-auth-AuthController_logout');
      expect(await logout.innerText()).toMatch(/open Authorize and click Logout/);
      expect((await execute(logout, 'POST', '/auth/logout')).status).toBe('204');
      await page.locator('.auth-wrapper button.authorize.locked').waitFor(); // the UI still looks authorized
      const afterLogout = await execute(sessions, 'GET', '/sessions');
      expect(afterLogout.status).toBe('401');
      expect(afterLogout.curl).toContain(`Authorization: Bearer ${tokens.accessToken}`);
      const clearing = await authorizeDialog();
      await clearing.locator('button.modal-btn[aria-label="Remove authorization"]').click();
      await clearing.locator('input[type=text]').waitFor(); // the field is empty again, ready for a new token
      await closeDialog(clearing);
      await page.locator('.auth-wrapper button.authorize.unlocked').waitFor();
      const anonymous = await execute(sessions, 'GET', '/sessions');
      expect(anonymous.status).toBe('401');
      expect(anonymous.curl).not.toContain('Authorization');

      // Fold the auth operations (already checked above) so the screenshot leads with the session list.
      for (const op of [register, login, refresh, logout, revoke]) await op.locator('.opblock-summary-control').click();
      await page.locator('#operations-auth-AuthController_login.is-open').waitFor({ state: 'detached' });
      // The bar holding "Authorize" is position: sticky; at the top of the page it is drawn in its own place.
      await page.evaluate('window.scrollTo(0, 0)');
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } catch (e) {
      // Leave evidence for whoever has to debug a red run.
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: FAILURE_SCREENSHOT, fullPage: true }).catch(() => undefined);
      await writeFile(FAILURE_DOM, await page.content().catch(() => '')).catch(() => undefined);
      throw e;
    }
  });

  it('lists the admin operations under their own tag and runs them for an admin (signed in and authorized again after the walkthrough’s logout); GET /auth/events too', async () => {
    expect(reader.id).toBeDefined();
    try {
      // The admin routes are documented under the "admin" tag, every one of them.
      await page.locator('#operations-tag-admin').waitFor();
      for (const name of ['listUserSessions', 'revokeUserSessions', 'listUserEvents', 'deactivate', 'reactivate', 'revokeSession', 'listByIp', 'revokeByIp']) {
        await page.locator(`#operations-admin-AdminController_${name}`).waitFor();
      }

      // The walkthrough ended signed out: sign in again and authorize the new token.
      const login = await open('operations-auth-AuthController_login');
      await login.locator('textarea.body-param__text').fill(JSON.stringify({ email: reader.email, password: reader.password, deviceName: 'Swagger UI' }, null, 2));
      const loggedIn = await execute(login, 'POST', '/auth/login');
      expect(loggedIn.status).toBe('200');
      const tokens = JSON.parse(loggedIn.body) as { accessToken: string; sessionId: string };
      reader.sessionId = tokens.sessionId;
      await authorize(tokens.accessToken);

      // The signed-in reader becomes an admin over the owner connection (npm run users:grant-admin); the same token now works on /admin.
      await setUserRole(t!.db.ownerUrl, reader.email!, 'admin');
      const sessions = await open('operations-admin-AdminController_listUserSessions');
      await sessions.locator('tr[data-param-name="userId"] input').fill(reader.id!);
      const listed = await execute(sessions, 'GET', `/admin/users/${reader.id}/sessions`);
      expect(listed.status).toBe('200');
      const page1 = JSON.parse(listed.body) as { items: { id: string; userId: string }[]; nextCursor: string | null };
      expect(page1.items).toEqual([expect.objectContaining({ id: reader.sessionId, userId: reader.id })]);

      // By IP: the test client signed in from loopback.
      const byIp = await open('operations-admin-AdminController_listByIp');
      await byIp.locator('tr[data-param-name="ip"] input').fill('127.0.0.0/8');
      const found = await execute(byIp, 'GET', '/admin/sessions');
      expect(found.status).toBe('200');
      expect((JSON.parse(found.body) as { items: { id: string }[] }).items.map((x) => x.id)).toContain(reader.sessionId);

      // The caller's own audit log.
      const events = await open('operations-auth-AuthEventsController_list');
      const own = await execute(events, 'GET', '/auth/events');
      expect(own.status).toBe('200');
      expect((JSON.parse(own.body) as { items: { type: string }[] }).items.map((e) => e.type)).toEqual(
        expect.arrayContaining(['auth.login.succeeded', 'user.role_changed']),
      );
    } catch (e) {
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: FAILURE_SCREENSHOT, fullPage: true }).catch(() => undefined);
      await writeFile(FAILURE_DOM, await page.content().catch(() => '')).catch(() => undefined);
      throw e;
    }
  });

  it('the journey raised no console errors or CSP violations, and no request failed but the walkthrough’s two 401s', async () => {
    // Guards against passing vacuously: the journey above must have reached the app.
    expect(appResponses).toEqual(
      expect.arrayContaining([
        { method: 'GET', path: '/docs', status: 200 },
        { method: 'GET', path: '/docs/swagger-ui-bundle.js', status: 200 },
        { method: 'POST', path: '/auth/register', status: 201 },
        { method: 'POST', path: '/auth/login', status: 200 },
        { method: 'GET', path: '/sessions', status: 200 },
        { method: 'POST', path: '/auth/refresh', status: 200 },
        { method: 'POST', path: '/auth/logout', status: 204 },
        { method: 'GET', path: `/admin/users/${reader.id}/sessions`, status: 200 },
        { method: 'GET', path: '/admin/sessions', status: 200 },
        { method: 'GET', path: '/auth/events', status: 200 },
      ]),
    );
    expect(await page.evaluate('window.__cspViolations')).toEqual([]);
    // The two 401s of step 7 (after logout, then without a token) are the walkthrough's; the browser
    // reports each failed response as a console error.
    expect(consoleErrors.filter((e) => !/status of 401/.test(e))).toEqual([]);
    expect(failedRequests).toEqual([]);
    expect(appResponses.filter((r) => r.status >= 400)).toEqual([
      { method: 'GET', path: '/sessions', status: 401 },
      { method: 'GET', path: '/sessions', status: 401 },
    ]);
  });
});
