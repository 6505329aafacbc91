/**
 * Runs async side effects handed over by synchronous callbacks (`onToken`,
 * `onUsage`) one after another, in order; {@link settle} waits for all of
 * them and throws the first failure.
 */
export class Serial {
  #chain: Promise<void> = Promise.resolve();
  #error: unknown;
  #failed = false;

  push(task: () => Promise<unknown>): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#failed) return;
      try {
        await task();
      } catch (err) {
        this.#failed = true;
        this.#error = err;
      }
    });
  }

  async settle(): Promise<void> {
    await this.#chain;
    if (this.#failed) throw this.#error;
  }
}
