/**
 * A replica's data directory with a quota: every write goes through here and
 * fails, as a full disk would (`ENOSPC`), once the directory holds its quota
 * or the filesystem under it runs low. That keeps disk_fill real (real bytes
 * on disk, real failed writes) without ever filling the machine.
 */
import { appendFile, mkdir, readdir, rename, stat, statfs } from 'node:fs/promises';
import path from 'node:path';

/** A write refused because the directory (or the filesystem) is full. */
export class DiskFullError extends Error {
  readonly code = 'ENOSPC';
  constructor(message: string) {
    super(message);
    this.name = 'DiskFullError';
  }
}

/** The journal is rotated past this size, so ordinary traffic never fills the quota. */
const JOURNAL_MAX_BYTES = 1024 * 1024;
/** How long a measured size or free-space figure is trusted before measuring again. */
const MEASURE_TTL_MS = 500;

export class DataDir {
  readonly dir: string;
  readonly #quotaBytes: number;
  readonly #minFreeBytes: number;
  #used = 0;
  #usedAt = 0;
  #free = Number.POSITIVE_INFINITY;
  #freeAt = 0;
  #journalBytes = 0;
  /** Writes run one at a time, so two of them never both fit in the same room. */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(dir: string, quotaBytes: number, minFreeBytes: number) {
    this.dir = dir;
    this.#quotaBytes = quotaBytes;
    this.#minFreeBytes = minFreeBytes;
  }

  get quotaBytes(): number {
    return this.#quotaBytes;
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.#journalBytes = await sizeOf(path.join(this.dir, 'journal.log'));
    await this.usedBytes();
  }

  /** Bytes held by every file under the directory, measured now. */
  async usedBytes(): Promise<number> {
    this.#used = await folderBytes(this.dir);
    this.#usedAt = Date.now();
    return this.#used;
  }

  /** Bytes that may still be written: what is left under the quota and above the free-space floor. */
  async room(): Promise<number> {
    const now = Date.now();
    if (now - this.#usedAt > MEASURE_TTL_MS) await this.usedBytes();
    if (now - this.#freeAt > MEASURE_TTL_MS) {
      const fs = await statfs(this.dir);
      this.#free = fs.bavail * fs.bsize;
      this.#freeAt = now;
    }
    return Math.max(0, Math.min(this.#quotaBytes - this.#used, this.#free - this.#minFreeBytes));
  }

  /**
   * Appends `data` to `relPath` (folders are created). Throws
   * {@link DiskFullError} when it does not fit in {@link room}.
   */
  append(relPath: string, data: string | Uint8Array): Promise<void> {
    return this.#serially(() => this.#append(relPath, data));
  }

  /** Appends one record to the request journal, rotating it past 1 MB. */
  journal(line: string): Promise<void> {
    return this.#serially(async () => {
      if (this.#journalBytes > JOURNAL_MAX_BYTES) {
        await rename(path.join(this.dir, 'journal.log'), path.join(this.dir, 'journal.1.log'));
        this.#journalBytes = 0;
      }
      await this.#append('journal.log', `${line}\n`);
      this.#journalBytes += Buffer.byteLength(line) + 1;
    });
  }

  #serially(write: () => Promise<void>): Promise<void> {
    const done = this.#writes.then(write);
    this.#writes = done.catch(() => undefined);
    return done;
  }

  async #append(relPath: string, data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (bytes > (await this.room())) {
      throw new DiskFullError(`no space left on device: ${this.dir} (quota ${this.#quotaBytes} bytes)`);
    }
    const file = path.join(this.dir, relPath);
    await mkdir(path.dirname(file), { recursive: true });
    await appendFile(file, data);
    this.#used += bytes;
    this.#free -= bytes;
  }
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** Total size of the regular files under `dir` (0 when it is missing); files that vanish mid-walk count as 0. */
export async function folderBytes(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await folderBytes(p);
    else if (e.isFile()) total += await sizeOf(p);
  }
  return total;
}
