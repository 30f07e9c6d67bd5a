// The example web client of nest-rls-auth: plain JavaScript, no framework, no build step.
//
// The refresh token never reaches this script: the service keeps it in an HttpOnly, SameSite=Strict
// cookie (REFRESH_TOKEN_TRANSPORT=cookie or both). The access token is kept in memory only, so a
// reload loses it and the page gets a new one from the cookie ("silent restore").

/** The API's origin and path prefix; '' when the service serves this page itself (/example/). */
const API = '';

const $ = (selector, root = document) => root.querySelector(selector);

const state = {
  accessToken: null,
  /** One refresh at a time: concurrent 401s wait for the same one. */
  refreshing: null,
};

// ---- talking to the API -----------------------------------------------------------------------

/**
 * fetch() with the JSON body, the bearer token and the cookie; one silent refresh and retry on a
 * 401. Resolves to `{ ok, status, body }` with the answer read (`body`: its JSON, or null).
 */
async function api(path, { method = 'GET', body, retry = true } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (state.accessToken) headers.Authorization = `Bearer ${state.accessToken}`;
  const res = await request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && retry && state.accessToken && (await refresh())) return api(path, { method, body, retry: false });
  return res;
}

async function request(path, init) {
  const res = await fetch(API + path, { ...init, credentials: 'same-origin' });
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: leave it null
  }
  return { ok: res.ok, status: res.status, body };
}

/** A new access token from the refresh cookie (which the answer rotates). False when signed out. */
function refresh() {
  state.refreshing ??= (async () => {
    try {
      const res = await request('/auth/refresh', { method: 'POST' });
      state.accessToken = res.ok ? res.body.accessToken : null;
      return res.ok;
    } catch {
      return false;
    } finally {
      state.refreshing = null;
    }
  })();
  return state.refreshing;
}

/** The error message of a refused request, as the API words it. */
function problem(res) {
  const message = res.body?.message;
  if (Array.isArray(message)) return message.join('; ');
  return message ? String(message) : `Request failed (${res.status})`;
}

// ---- what the page shows ----------------------------------------------------------------------

function say(text, kind = 'info') {
  const message = $('#message');
  message.textContent = text;
  message.className = kind;
  message.hidden = !text;
}

function show(view) {
  for (const id of ['restoring', 'signed-out', 'signed-in']) $(`#${id}`).hidden = id !== view;
}

function signedOut(text) {
  state.accessToken = null;
  show('signed-out');
  if (text) say(text);
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
function ago(iso) {
  const minutes = Math.round((Date.parse(iso) - Date.now()) / 60_000);
  if (Math.abs(minutes) < 60) return relative.format(minutes, 'minute');
  if (Math.abs(minutes) < 48 * 60) return relative.format(Math.round(minutes / 60), 'hour');
  return relative.format(Math.round(minutes / 1440), 'day');
}

/** Shows the account and its devices; a refused call (revoked session) ends in the signed-out view. */
async function showAccount() {
  const [me, sessions] = await Promise.all([api('/auth/me'), api('/sessions')]);
  if (!me.ok || !sessions.ok) return signedOut(me.status === 401 || sessions.status === 401 ? 'You have been signed out.' : problem(me.ok ? sessions : me));
  const user = me.body;
  $('#who').textContent = user.displayName ? `${user.displayName} (${user.email})` : user.email;
  renderDevices(sessions.body);
  show('signed-in');
}

function renderDevices(sessions) {
  const list = $('#devices');
  // This device first, then the most recently used.
  const ordered = [...sessions].sort((a, b) => Number(b.current) - Number(a.current) || Date.parse(b.lastUsedAt) - Date.parse(a.lastUsedAt));
  list.replaceChildren(
    ...ordered.map((s) => {
      const row = $('#device').content.firstElementChild.cloneNode(true);
      row.dataset.sessionId = s.id;
      if (s.current) row.classList.add('current');
      $('.name', row).textContent = s.deviceName || 'Unnamed device';
      $('.badge', row).hidden = !s.current;
      $('.meta', row).textContent = [s.deviceType === 'unknown' ? null : s.deviceType, `last used ${ago(s.lastUsedAt)}`, s.ipAddress].filter(Boolean).join(' · ');
      const rename = $('.rename', row);
      $('.edit', row).addEventListener('click', () => {
        rename.deviceName.value = s.deviceName ?? '';
        rename.hidden = false;
        rename.deviceName.focus();
      });
      $('.cancel', row).addEventListener('click', () => (rename.hidden = true));
      rename.addEventListener('submit', (e) => {
        e.preventDefault();
        renameDevice(s.id, rename.deviceName.value.trim());
      });
      const revoke = $('.revoke', row);
      if (s.current) revoke.textContent = 'Sign out';
      revoke.addEventListener('click', () => (s.current ? signOut() : revokeDevice(s.id)));
      return row;
    }),
  );
}

// ---- actions ----------------------------------------------------------------------------------

async function signIn({ email, password, deviceName }) {
  const res = await api('/auth/login', {
    method: 'POST',
    body: { email, password, deviceName: deviceName || undefined, deviceType: 'web', refreshTokenTransport: 'cookie' },
    retry: false,
  });
  if (!res.ok) return say(problem(res), 'error');
  const tokens = res.body;
  if (tokens.refreshToken) {
    // A body-transport service: this page will not keep a refresh token where scripts can read it.
    return say('This service hands out refresh tokens in the body; start it with REFRESH_TOKEN_TRANSPORT=cookie or both.', 'error');
  }
  state.accessToken = tokens.accessToken;
  say('');
  await showAccount();
}

async function signUp({ email, password, displayName }) {
  const res = await api('/auth/register', { method: 'POST', body: { email, password, displayName: displayName || undefined }, retry: false });
  if (!res.ok) return say(problem(res), 'error');
  await signIn({ email, password, deviceName: '' });
}

async function signOut() {
  // With the bearer token if the page has one (refreshed first if it has expired); without one, the
  // cookie alone signs this session out. Either way the answer clears the cookie.
  await api('/auth/logout', { method: 'POST' }).catch(() => undefined);
  signedOut('Signed out.');
}

async function renameDevice(id, deviceName) {
  const res = await api(`/sessions/${encodeURIComponent(id)}`, { method: 'PATCH', body: { deviceName } });
  if (res.status === 401) return signedOut('You have been signed out.');
  if (!res.ok) return say(problem(res), 'error');
  say('Device renamed.');
  await showAccount();
}

async function revokeDevice(id) {
  const res = await api(`/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
  if (res.status === 401) return signedOut('You have been signed out.');
  if (!res.ok && res.status !== 404) return say(problem(res), 'error');
  say('Device signed out.');
  await showAccount();
}

// ---- wiring -----------------------------------------------------------------------------------

const fields = (form) => Object.fromEntries(new FormData(form));

$('#sign-in').addEventListener('submit', (e) => {
  e.preventDefault();
  signIn(fields(e.target));
});
$('#sign-up').addEventListener('submit', (e) => {
  e.preventDefault();
  signUp(fields(e.target));
});
$('#sign-out').addEventListener('click', () => signOut());
$('#reload').addEventListener('click', () => {
  say('');
  showAccount();
});

// Silent restore: the cookie, if the browser still has a live one, gives this page an access token.
if (await refresh()) await showAccount();
else signedOut();
