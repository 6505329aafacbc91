// Approving one plan: the gateway's challenge is bound to the plan's hash and
// to the signed-in person; the security key signs it (user verification
// required) and the gateway checks the assertion before it publishes the
// approval.
import { startAuthentication } from './vendor/simplewebauthn/index.js';
import { api, say, sayError, subjectOf, token } from './session.js';

const $ = (id) => document.getElementById(id);
const planId = new URLSearchParams(location.search).get('plan') ?? '';
let pending;

function row(name, value) {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  dd.textContent = typeof value === 'string' ? value : JSON.stringify(value);
  $('plan').append(dt, dd);
}

async function loadChallenge() {
  pending = await api(`/v1/approvals/${encodeURIComponent(planId)}/challenge`, { method: 'POST', body: {} });
  const p = pending.plan;
  $('plan-id').textContent = pending.planId;
  $('plan-hash').textContent = pending.planHash;
  $('plan').replaceChildren();
  row('Action', p.action);
  row('Target', `${p.target.kind} ${p.target.name} (service ${p.target.service})`);
  row('Environment', p.environment);
  row('Parameters', p.parameters);
  row('Risk tier', p.riskTier);
  row('Plan expires', p.expiresAt);
  row('Requested by', pending.requestedBy);
  $('reasons').replaceChildren(
    ...pending.reasons.map((r) => Object.assign(document.createElement('li'), { textContent: r })),
  );
  $('approvals').textContent =
    `Approvals: ${pending.approvers.length} of ${pending.approvalsNeeded}. This challenge expires at ${pending.challengeExpiresAt}.`;
  $('review').hidden = false;
}

$('approve').addEventListener('click', async () => {
  $('approve').disabled = true;
  try {
    if (pending === undefined || Date.parse(pending.challengeExpiresAt) <= Date.now()) await loadChallenge();
    const { challengeToken, options } = pending;
    pending = undefined; // single use: the next attempt asks for a new challenge
    const response = await startAuthentication({ optionsJSON: options });
    const result = await api(`/v1/approvals/${encodeURIComponent(planId)}/grant`, {
      method: 'POST',
      body: { challengeToken, response },
    });
    say(`Approved (${result.approvalsGiven} of ${result.approvalsNeeded}).`);
  } catch (err) {
    sayError(err);
  } finally {
    $('approve').disabled = false;
  }
});

$('deny-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    await api(`/v1/approvals/${encodeURIComponent(planId)}/deny`, {
      method: 'POST',
      body: { reason: $('reason').value },
    });
    say('Denied.');
  } catch (err) {
    sayError(err);
  }
});

if (token() === null) say('Sign in first.', 'error');
else {
  $('who').textContent = subjectOf(token()) ?? '';
  loadChallenge().catch(sayError);
}
