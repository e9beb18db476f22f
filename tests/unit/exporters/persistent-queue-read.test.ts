import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PersistentQueue } from '../../../src/exporters/exporterhelper/persistent-queue.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function queue(readFileImpl: (file: string) => Promise<Buffer>) {
  const directory = mkdtempSync(join(tmpdir(), 'pulse-pq-'));
  dirs.push(directory);
  let corrupt = 0;
  const q = new PersistentQueue<string>({
    directory,
    maxEntries: 100,
    maxBytes: 1 << 20,
    fsync: false,
    encode: (s) => Buffer.from(s),
    decode: (b) => Buffer.from(b).toString(),
    logger: pino({ level: 'silent' }),
    corruptFiles: { inc: () => void corrupt++ } as never,
    readFile: readFileImpl,
  });
  return { q, directory, corrupt: () => corrupt };
}

const emfile = () => Object.assign(new Error("EMFILE: too many open files, open 'x.batch'"), { code: 'EMFILE' });

describe('persistent queue: reading a batch back', () => {
  it('keeps and reads again a file it cannot open now (out of descriptors), instead of deleting it as corrupt', async () => {
    let failures = 3;
    const { q, directory, corrupt } = queue((file) => (failures-- > 0 ? Promise.reject(emfile()) : readFile(file)));
    await q.open();
    await q.offer('batch one', 1);
    // Written and not taken while in memory: drop the in-memory copy so it is read from disk, as after a restart.
    const entry = (await q.take(new AbortController().signal))!;
    (entry as unknown as { item: unknown }).item = undefined;
    expect(await q.load(entry)).toBe('batch one');
    expect(corrupt()).toBe(0);
    expect(failures).toBe(-1);
    q.done(entry);
    await q.dispose();
    expect(readdirSync(directory).filter((f) => f.endsWith('.batch'))).toEqual([]);
  });

  it('at shutdown leaves such a file on disk for the next start', async () => {
    const { q, directory, corrupt } = queue(() => Promise.reject(emfile()));
    await q.open();
    await q.offer('kept', 1);
    const entry = (await q.take(new AbortController().signal))!;
    (entry as unknown as { item: unknown }).item = undefined;
    const loading = q.load(entry);
    await new Promise((r) => setTimeout(r, 150));
    q.close();
    expect(await loading).toBeUndefined();
    expect(corrupt()).toBe(0);
    await q.dispose();
    expect(readdirSync(directory).filter((f) => f.endsWith('.batch'))).toHaveLength(1);
  });
});
