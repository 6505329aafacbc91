// The console's session: the access token lives in sessionStorage only (gone
// when the tab closes, never sent by the browser on its own, so no CSRF), and
// every API call carries it as a bearer token.

const KEY = 'sentinel.accessToken';

/** The access token of this tab, or null. */
export function token() {
  return sessionStorage.getItem(KEY);
}

/** Keeps the token of a sign-in. */
export function keepToken(accessToken) {
  sessionStorage.setItem(KEY, accessToken);
}

/** Forgets the token (sign out). */
export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

/** The claims of a token (display and sign-out only: the gateway is what verifies it). */
function claimsOf(accessToken) {
  try {
    const payload = accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload));
  } catch {
    return {};
  }
}

/** The subject a token names. */
export function subjectOf(accessToken) {
  return claimsOf(accessToken).sub;
}

/**
 * Signs out: ends the session at the gateway (its tokens are refused and its
 * open streams closed from then on), then forgets the token. The token is
 * forgotten even when the gateway cannot be reached; the error is returned
 * so the page can say the session may still be live.
 */
export async function signOut() {
  const t = token();
  const sid = t === null ? undefined : claimsOf(t).sid;
  try {
    if (typeof sid === 'string') await api(`/v1/sessions/${encodeURIComponent(sid)}`, { method: 'DELETE' });
    return undefined;
  } catch (err) {
    return err;
  } finally {
    forgetToken();
  }
}

/** A failed API call, with the problem the gateway answered. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail ?? `request failed with status ${status}`);
    this.status = status;
    // The code is the last part of the problem type (`…:approval_expired`).
    const fromType = typeof problem.type === 'string' ? problem.type.split(/[:/]/).pop() : undefined;
    this.code = problem.code ?? fromType ?? problem.title ?? 'error';
    this.issues = Array.isArray(problem.issues) ? problem.issues : [];
  }
}

/** Calls the gateway API; resolves with the JSON body, rejects with an ApiError. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = {};
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    json = { detail: text };
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

/** Shows a message in the page's status line; `kind` is 'ok' or 'error'. */
export function say(message, kind = 'ok') {
  const el = document.getElementById('status');
  el.textContent = message;
  el.dataset.kind = kind;
}

/** Shows an error (an ApiError's code and detail, or a browser error's name and message). */
export function sayError(err) {
  if (err instanceof ApiError) {
    const issues = err.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    say(`${err.code}: ${err.message}${issues === '' ? '' : ` (${issues})`}`, 'error');
  } else say(`${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`, 'error');
}
