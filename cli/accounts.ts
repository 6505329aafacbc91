/**
 * `sentinel account add|list|disable`: people's accounts, for whoever runs the
 * deployment (they reach PostgreSQL directly, as `createsuperuser` does
 * elsewhere). The first admin is made this way; after that, admins manage
 * accounts through the gateway. A new account's password is generated and
 * printed once unless one is read from standard input.
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import pg from 'pg';
import { loadConfig } from '../config/index.ts';
import { Accounts, IdentityError, PERSON_ROLES, isPersonRole } from '../governance/index.ts';
import { table } from './table.ts';

async function withAccounts<T>(fn: (accounts: Accounts) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 2 });
  try {
    return await fn(await Accounts.open({ pool, namespace: config.namespace }));
  } finally {
    await pool.end();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Runs `fn`, turning an identity refusal into a clear message and exit code 1. */
async function refusalsClear(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof IdentityError)) throw err;
    process.stderr.write(`sentinel: ${err.message}\n`);
    process.exitCode = 1;
  }
}

export function registerAccounts(program: Command): void {
  const account = program.command('account').description("people's accounts and roles");
  account
    .command('add <username>')
    .description('create an account; prints a generated password unless --password-stdin')
    .option('--role <role>', `one of ${PERSON_ROLES.join(', ')}`, 'viewer')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, opts: { role: string; passwordStdin?: boolean }) => {
      const role = opts.role;
      if (!isPersonRole(role)) {
        process.stderr.write(`sentinel: --role must be one of ${PERSON_ROLES.join(', ')}\n`);
        process.exitCode = 1;
        return;
      }
      const password = opts.passwordStdin ? await readStdin() : randomBytes(18).toString('base64url');
      await refusalsClear(async () => {
        const a = await withAccounts((accounts) => accounts.create({ username, role, password }));
        process.stderr.write(`account ${a.username} created with role ${a.role}\n`);
        if (!opts.passwordStdin) process.stdout.write(`${password}\n`);
      });
    });
  account
    .command('list')
    .description('every account with its role')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await withAccounts((accounts) => accounts.list());
      if (opts.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else
        process.stdout.write(
          table([
            ['USERNAME', 'ROLE', 'DISABLED', 'CREATED'],
            ...list.map((a) => [a.username, a.role, a.disabled ? 'yes' : 'no', a.createdAt]),
          ]) + '\n',
        );
    });
  account
    .command('disable <username>')
    .description('disable an account and end its sessions')
    .action(async (username: string) => {
      await refusalsClear(async () => {
        await withAccounts((accounts) => accounts.disable(username));
        process.stderr.write(`account ${username} disabled; its sessions are revoked\n`);
      });
    });
}
