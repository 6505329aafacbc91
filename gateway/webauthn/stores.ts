/**
 * The WebAuthn stores of one namespace, opened (and migrated) once, on first use.
 */
import type pg from 'pg';
import { ChallengeStore } from './challenge-store.ts';
import { CredentialStore } from '../../governance/index.ts';

/** Credentials and ceremony challenges. */
export interface WebAuthnStores {
  readonly credentials: CredentialStore;
  readonly challenges: ChallengeStore;
}

/** Migrates the WebAuthn tables of `namespace` and opens its stores. */
export async function openWebAuthnStores(o: { pool: pg.Pool; namespace: string }): Promise<WebAuthnStores> {
  const credentials = await CredentialStore.open(o);
  const challenges = await ChallengeStore.open(o);
  return { credentials, challenges };
}

/** `open` run once; a failed attempt is forgotten so the next request tries again. */
export function lazyStores(open: () => Promise<WebAuthnStores>): () => Promise<WebAuthnStores> {
  let pending: Promise<WebAuthnStores> | undefined;
  return () => {
    pending ??= open().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
