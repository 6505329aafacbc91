/**
 * disk_fill: writes `mbPerS` MB per second of data into the replica's data
 * directory (`fill/`), through the quota, until a write fails. The request
 * journal shares the directory, so once it is full the service's own writes
 * fail too.
 */
import { DiskFullError } from './data-dir.ts';
import type { DataDir } from './data-dir.ts';

/** Writes per second. */
const STEPS_PER_S = 4;
/** A new fill file is started past this size. */
const FILE_BYTES = 64 * 1024 * 1024;
/** Folder under the data directory that disk_fill writes into and clear_disk empties. */
export const FILL_FOLDER = 'fill';

export class DiskFiller {
  readonly #dir: DataDir;
  readonly #onFull: (err: DiskFullError) => void;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #file = 0;
  #fileBytes = 0;

  /** `onFull` is told once, when the first write fails. */
  constructor(dir: DataDir, onFull: (err: DiskFullError) => void) {
    this.#dir = dir;
    this.#onFull = onFull;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Fills at `mbPerS` MB/s until a write fails or {@link stop}. */
  start(mbPerS: number): void {
    if (this.#timer) clearInterval(this.#timer);
    const chunk = Buffer.alloc(Math.max(1, Math.round((mbPerS * 1024 * 1024) / STEPS_PER_S)), 0x5a);
    this.#timer = setInterval(() => {
      // One write at a time: a slow disk makes the fill slower, never a pile of writes.
      this.#writing = this.#writing.then(() => this.#write(chunk));
    }, 1000 / STEPS_PER_S);
  }

  /** Stops filling; resolves once no write is in flight. What was written stays. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#writing;
  }

  async #write(chunk: Buffer): Promise<void> {
    if (!this.#timer) return;
    if (this.#fileBytes + chunk.byteLength > FILE_BYTES) {
      this.#file++;
      this.#fileBytes = 0;
    }
    try {
      // Like a real disk: the last write fills what is left, the next one fails.
      const room = await this.#dir.room();
      const part = room > 0 && room < chunk.byteLength ? chunk.subarray(0, room) : chunk;
      await this.#dir.append(`${FILL_FOLDER}/fill-${this.#file}.bin`, part);
      this.#fileBytes += part.byteLength;
    } catch (err) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#onFull(err instanceof DiskFullError ? err : new DiskFullError(String(err)));
    }
  }
}
