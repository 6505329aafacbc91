/**
 * Sessions ending in this gateway process: sign-out, an admin's revocation,
 * an account changed or disabled. Whatever a session holds open (a live
 * stream) listens and ends with it at once. Sessions ended by another
 * replica are found by the holder's own periodic check of the session store.
 */

/** Which sessions ended: one by id, or every session of a person. */
export type SessionEnd =
  | { readonly sessionId: string; readonly reason: string }
  | { readonly username: string; readonly reason: string };

export class SessionEnds {
  readonly #listeners = new Set<(end: SessionEnd) => void>();

  /** Tells every listener that `end` happened. A listener that throws does not stop the others. */
  ended(end: SessionEnd): void {
    for (const l of this.#listeners)
      try {
        l(end);
      } catch {
        // A listener's failure is its own: the session has ended all the same.
      }
  }

  /** Listens; returns the function that stops listening. */
  listen(listener: (end: SessionEnd) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
