/**
 * Installs the cloudflared stub as an executable named `cloudflared` in `dir` (a temp dir), with
 * this Node as its interpreter, and gives the environment that points it at a call log.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CloudflaredStub {
  /** Path of the executable. */
  path: string;
  /** JSON-lines call log. */
  logFile: string;
  env: Record<string, string>;
  /** Calls recorded so far, oldest first. */
  calls(): Promise<{ argv: string[]; config?: string | null }[]>;
}

export async function installCloudflaredStub(dir: string, extraEnv: Record<string, string> = {}): Promise<CloudflaredStub> {
  const source = await readFile(new URL('./cloudflared.mjs', import.meta.url), 'utf8');
  const path = join(dir, 'cloudflared');
  await writeFile(path, `#!${process.execPath}\n${source}`);
  await chmod(path, 0o755);
  const logFile = join(dir, 'cloudflared-calls.jsonl');
  return {
    path,
    logFile,
    env: { CLOUDFLARED_STUB_LOG: logFile, ...extraEnv },
    async calls() {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as { argv: string[]; config?: string | null });
    },
  };
}
