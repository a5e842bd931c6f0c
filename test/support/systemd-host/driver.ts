/**
 * Runs inside the systemd test host (`node --import tsx driver.ts <op> <json>`), so the real
 * systemd supervisor drives the real systemctl and journalctl. Prints one JSON line:
 * `{ ok: true, result }` or `{ ok: false, error: { name, code, message } }`.
 */
import { isPvdifyError } from '../../../src/core/errors.ts';
import type { InstanceRef, InstanceSpec } from '../../../src/core/ports/runtime.ts';
import { createJournal, type JournalQuery } from '../../../src/adapters/journald/journal.ts';
import { createSystemctl } from '../../../src/adapters/systemd/systemctl.ts';
import { createSystemdSupervisor } from '../../../src/adapters/systemd/systemd-supervisor.ts';

const [op = '', rawArg = 'null'] = process.argv.slice(2);
const arg: unknown = JSON.parse(rawArg);

const systemctl = createSystemctl();
const journal = createJournal();
const supervisor = createSystemdSupervisor({
  systemctl,
  journal,
  podmanPath: '/usr/bin/podman',
  stateDir: '/var/lib/pvdify',
  startTimeoutMs: 60_000,
});

async function main(): Promise<unknown> {
  switch (op) {
    case 'start':
      return supervisor.start(arg as InstanceSpec);
    case 'stop':
      return supervisor.stop(arg as InstanceRef);
    case 'restart':
      return supervisor.restart(arg as InstanceRef);
    case 'list':
      return supervisor.list((arg as string | null) ?? undefined);
    case 'stats':
      return supervisor.stats(arg as string);
    case 'logs': {
      const { app, ...opts } = arg as { app: string; lines: number; process?: string; ref?: InstanceRef };
      return supervisor.logs(app, opts);
    }
    case 'show': {
      const { unit, properties } = arg as { unit: string; properties?: string[] };
      return systemctl.show(unit, properties);
    }
    case 'is-active':
      return systemctl.isActive(arg as string);
    case 'list-units':
      return systemctl.listUnits(arg as string);
    case 'journal':
      return journal.read(arg as JournalQuery);
    case 'http-get': {
      // The container counts as started before its server listens: retry connection errors briefly.
      const { port, path } = arg as { port: number; path: string };
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
          return { status: res.status, body: await res.text() };
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }
    default:
      throw new Error(`unknown op ${op}`);
  }
}

try {
  const result = await main();
  process.stdout.write(`${JSON.stringify({ ok: true, result: result ?? null })}\n`);
} catch (e) {
  const err = e as Error;
  process.stdout.write(
    `${JSON.stringify({ ok: false, error: { name: err.name, code: isPvdifyError(e) ? e.code : null, message: err.message } })}\n`,
  );
  process.exitCode = 1;
}
