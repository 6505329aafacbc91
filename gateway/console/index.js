// Sign-in (password or passkey), key registration and the pending approvals.
import { startAuthentication, startRegistration } from './vendor/simplewebauthn/index.js';
import { api, keepToken, say, sayError, signOut, subjectOf, token } from './session.js';

const $ = (id) => document.getElementById(id);

function render() {
  const t = token();
  $('signin').hidden = t !== null;
  $('signed-in').hidden = t === null;
  $('signout').hidden = t === null;
  $('who').textContent = t === null ? '' : (subjectOf(t) ?? '');
  if (t !== null) void loadPending();
}

async function loadPending() {
  const list = $('pending');
  list.replaceChildren();
  try {
    const body = await api('/v1/approvals');
    const items = Array.isArray(body) ? body : (body.items ?? body.approvals ?? []);
    if (items.length === 0)
      list.append(
        Object.assign(document.createElement('li'), { textContent: 'Nothing waits for an approval.' }),
      );
    for (const item of items) {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = `approve.html?plan=${encodeURIComponent(item.planId)}`;
      a.textContent = `${item.planId}`;
      li.append(
        a,
        ` (${item.environment ?? ''}, ${item.approvalsNeeded ?? 1} approval(s), until ${item.expiresAt ?? '?'})`,
      );
      list.append(li);
    }
  } catch (err) {
    // Shown in the list, not the status line: the list loads in the background
    // and must not hide the outcome of what the person just did.
    const li = document.createElement('li');
    li.dataset.kind = 'error';
    li.textContent = `Could not load the pending approvals: ${err.code ?? err.name}: ${err.message}`;
    list.append(li);
  }
}

$('password-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const body = await api('/v1/sessions', {
      method: 'POST',
      body: { username: $('username').value, password: $('password').value },
    });
    keepToken(body.accessToken);
    say('Signed in.');
    render();
  } catch (err) {
    sayError(err);
  }
});

$('signin-passkey').addEventListener('click', async () => {
  try {
    // Passkeys are discoverable: the authenticator offers the ones it holds for this site.
    const optionsJSON = await api('/v1/webauthn/authentication/options', { method: 'POST', body: {} });
    const response = await startAuthentication({ optionsJSON });
    const body = await api('/v1/webauthn/authentication/verify', { method: 'POST', body: { response } });
    keepToken(body.accessToken);
    say('Signed in with a passkey.');
    render();
  } catch (err) {
    sayError(err);
  }
});

$('register-key').addEventListener('click', async () => {
  try {
    const optionsJSON = await api('/v1/webauthn/registration/options', { method: 'POST', body: {} });
    const response = await startRegistration({ optionsJSON });
    const body = await api('/v1/webauthn/registration/verify', { method: 'POST', body: { response } });
    say(`Key registered (${body.credentialId.slice(0, 12)}…).`);
  } catch (err) {
    sayError(err);
  }
});

$('refresh').addEventListener('click', () => void loadPending());
$('signout').addEventListener('click', async () => {
  const err = await signOut();
  if (err === undefined) say('Signed out.');
  else say(`Signed out here, but the gateway could not end the session: ${err.message}`, 'error');
  render();
});

render();

// The script is here: the form may submit now (through the handler above, never natively).
$('signin-password').disabled = false;
