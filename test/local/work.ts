import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh work folder under the OS temp folder (removed by the caller's afterAll). */
export function makeWorkdir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bluegreen-${prefix}-`));
}

export function removeWorkdir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
