/**
 * The shared Supervisor contract (test/adapters/podman/supervisor-contract.ts) against the
 * systemd supervisor. Runs INSIDE the systemd test host (real systemd as PID 1, real Podman,
 * real journald); test/adapters/systemd/real-systemd.test.ts starts it there with `node --test`.
 * Not named *.test.ts on purpose: on the machine itself there is no systemd to run it against.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodmanCli } from '../../../src/adapters/podman/podman-cli.ts';
import { createJournal } from '../../../src/adapters/journald/journal.ts';
import { createSystemctl } from '../../../src/adapters/systemd/systemctl.ts';
import { createSystemdSupervisor } from '../../../src/adapters/systemd/systemd-supervisor.ts';
import { supervisorContract } from '../../adapters/podman/supervisor-contract.ts';
import { buildTestImage } from '../images/build-test-image.ts';

const WORKER = ['sh', '-c', 'trap "exit 0" TERM; echo worker-ready; while true; do sleep 1; done'];

supervisorContract('systemd (real systemd in a container)', async () => {
  if (process.getuid?.() !== 0 || !process.env.PVDIFY_INSIDE_SYSTEMD_HOST) {
    throw new Error('run this file inside the systemd test host (see test/support/systemd-host), not on the machine itself');
  }
  const v1 = await buildTestImage({ tag: 'localhost/pvdify-test-app:v1', body: 'pvdify test app v1' });
  const v2 = await buildTestImage({ tag: 'localhost/pvdify-test-app:v2', body: 'pvdify test app v2' });
  const dir = await mkdtemp(join(tmpdir(), 'pvdify-systemd-contract-'));
  const envFile = join(dir, 'app.env');
  await writeFile(envFile, 'GREETING=contract\n', { mode: 0o600 });
  const cli = new PodmanCli();
  const supervisor = createSystemdSupervisor({
    systemctl: createSystemctl(),
    journal: createJournal(),
    podmanPath: '/usr/bin/podman',
    stateDir: '/var/lib/pvdify',
    startTimeoutMs: 60_000,
    stats: (names) => cli.stats(names),
  });
  return {
    supervisor,
    image: { ref: v1.tag, body: 'pvdify test app v1' },
    image2: { ref: v2.tag, body: 'pvdify test app v2' },
    envFile,
    workerCommand: WORKER,
    async dispose(apps) {
      for (const app of apps) {
        for (const i of await supervisor.list(app)) await supervisor.stop(i);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
});
