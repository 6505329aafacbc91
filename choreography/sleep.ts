/** Waits `ms`, or less: an abort of `signal` ends the wait at once (resolving, never rejecting). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Waits `ms`; an abort of `signal` ends the wait with an error carrying `message` (the work is given up). */
export async function pause(ms: number, signal: AbortSignal, message = 'stopped'): Promise<void> {
  await sleep(ms, signal);
  if (signal.aborted) throw new Error(message);
}
