/**
 * The scope catalogue against the code it governs: every event an agent
 * subscribes to is in its role's consume grant (or its consumers would be
 * refused by the broker), each event type is publishable by exactly the roles
 * the catalogue names, and people's roles only ever add scopes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigWith } from '../../config/index.ts';
import { eventTypes } from '../../choreography/index.ts';
import { roles } from '../../agents/index.ts';
import {
  AGENT_ROLES,
  agentScopes,
  isAgentRole,
  mayPublish,
  PERSON_ROLES,
  personScopes,
  ROLE_GRANTS,
} from '../../governance/index.ts';

/** Whether event type `type` matches a subscription filter like `incident.*` or `rca.completed`. */
function matches(filter: string, type: string): boolean {
  const [noun, verb] = filter.split('.');
  const [, tNoun, tVerb] = type.split('.');
  return noun === tNoun && (verb === '*' || verb === tVerb);
}

describe('scope catalogue', () => {
  test('scopes - every subscription of every agent role is inside its consume grant', async () => {
    const config = loadConfigWith({});
    let checked = 0;
    for (const [name, entry] of Object.entries(roles)) {
      assert.ok(isAgentRole(name), `${name} is a role of the catalogue`);
      const def = await entry.load(config);
      if (!('subscriptions' in def)) continue;
      for (const sub of def.subscriptions) {
        const types = eventTypes.filter((t) => matches(sub.filter.replace(/\.v1\.\*$/, ''), t));
        assert.ok(types.length > 0, `${name}/${sub.name}: ${sub.filter} matches some event type`);
        for (const t of types) {
          assert.ok(ROLE_GRANTS[name].consume.includes(t), `${name} consumes ${t} (${sub.filter})`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 15, `checked ${checked} subscriptions`);
  });

  test('scopes - each event type may be published by exactly the roles that hold it, and by no unknown role', () => {
    for (const type of eventTypes) {
      const holders = AGENT_ROLES.filter((r) => ROLE_GRANTS[r].publish.includes(type));
      for (const r of AGENT_ROLES)
        assert.equal(mayPublish(`${r}/i-1`, type), holders.includes(r), `${r} publishing ${type}`);
      assert.equal(mayPublish(`mallory/x`, type), false);
      assert.equal(mayPublish(type, type), false, 'an agent value without a role never passes');
    }
    assert.equal(mayPublish('detector/x', 'sentinel.plan.approved.v1'), false);
    assert.deepEqual(
      AGENT_ROLES.filter((r) => ROLE_GRANTS[r].publish.includes('sentinel.plan.approved.v1')),
      ['governor'],
      'only the governor approves plans',
    );
    assert.deepEqual(
      AGENT_ROLES.filter((r) => ROLE_GRANTS[r].actions.length > 0),
      ['executor'],
      'only the executor acts',
    );
  });

  test('scopes - agent scopes list its events and actions; people roles only add scopes, approvals from approver up', () => {
    assert.ok(agentScopes('executor').includes('action:rollback'));
    assert.ok(agentScopes('detector').includes('publish:sentinel.anomaly.detected.v1'));
    assert.ok(!agentScopes('detector').some((s) => s.startsWith('action:')));
    for (let i = 1; i < PERSON_ROLES.length; i++) {
      const lower = personScopes(PERSON_ROLES[i - 1]!);
      const upper = personScopes(PERSON_ROLES[i]!);
      assert.ok(lower.every((s) => upper.includes(s)) && upper.length > lower.length);
    }
    assert.deepEqual(
      PERSON_ROLES.filter((r) => personScopes(r).includes('approvals:write')),
      ['approver', 'admin'],
    );
  });
});
