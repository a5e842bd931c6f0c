/**
 * `pvdifyd`: the daemon (`serve`) and the operator's maintenance commands. These run on the VPS
 * as root or the pvdify user, never from Slack.
 */
import { existsSync } from 'node:fs';
import { isPvdifyError } from '../core/errors.ts';
import type { Logger } from '../core/ports/clock.ts';
import { createRootLogger, openRuntime, readEnvOptions, type RuntimeOptions } from '../main.ts';
import { decryptFileForOperator, encryptFileForOperator, keygen } from '../store/sops/operator.ts';
import { verifyAuditLog } from '../store/audit-log.ts';

interface Io {
  out(line: string): void;
  err(line: string): void;
}

const consoleIo: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

const USAGE = `usage: pvdifyd <command>

  serve                      run the daemon (stops cleanly on SIGTERM/SIGINT)
  rebuild-index              recreate pvdifyd.db from the YAML files in the state dir
  audit verify               check the audit trail's hash chain; reports the first bad event
  keygen                     create the age identity at PVDIFY_AGE_KEY_FILE (mode 0600)
  sops decrypt FILE          print a SOPS file decrypted (needs the age key)
  sops encrypt FILE          print a plain YAML file encrypted for the key's recipient
  help                       this text

environment: PVDIFY_STATE_DIR (default /var/lib/pvdify), PVDIFY_AGE_KEY_FILE (default
/etc/pvdify/age.key), PVDIFY_AGE_RECIPIENTS, PVDIFY_LOG_LEVEL, PVDIFY_LOG (stdout|stderr|silent|FILE)`;

/** Waits for SIGTERM or SIGINT. */
function untilSignal(log: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      log.info({ signal }, 'stopping');
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

async function serve(options: RuntimeOptions, io: Io): Promise<number> {
  const log = createRootLogger(options, 'pvdifyd');
  if (!existsSync(options.ageKeyFile)) {
    // First start on a fresh VPS: make the key so config:set works; operators back it up.
    const recipient = await keygen(options.ageKeyFile);
    log.warn({ keyFile: options.ageKeyFile, recipient }, 'created a new age identity; back it up, it decrypts every config version');
  }
  const runtime = await openRuntime(options, { log });
  const problems = runtime.store.problems();
  for (const p of problems) log.warn({ path: p.path }, `state file skipped: ${p.message}`);
  log.info({ stateDir: options.stateDir, apps: runtime.store.listApps().length, pid: process.pid }, 'pvdifyd started');
  io.err(`pvdifyd: serving from ${options.stateDir} (pid ${process.pid}); SIGTERM stops it`);
  await untilSignal(log);
  await runtime.close();
  log.info('pvdifyd stopped');
  return 0;
}

export async function runDaemonCli(argv: string[], io: Io = consoleIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(readEnvOptions(env, 'daemon'), io);
      case 'rebuild-index': {
        const options = readEnvOptions(env, 'cli');
        const runtime = await openRuntime({ ...options, logDestination: env.PVDIFY_LOG || 'stderr', logLevel: env.PVDIFY_LOG_LEVEL || 'warn' });
        try {
          const r = runtime.store.rebuildIndex();
          io.out(
            `rebuilt ${options.stateDir}/pvdifyd.db in ${Math.round(r.durationMs)} ms: ${r.apps} apps, ${r.releases} releases, ` +
              `${r.configVersions} config versions, ${r.approvals} approvals, ${r.auditEvents} audit events`,
          );
          for (const p of r.problems) io.err(`skipped ${p.path}: ${p.message}`);
          return r.problems.length > 0 ? 1 : 0;
        } finally {
          await runtime.close();
        }
      }
      case 'audit': {
        if (rest[0] !== 'verify' || rest.length !== 1) {
          io.err('usage: pvdifyd audit verify');
          return 1;
        }
        const options = readEnvOptions(env, 'cli');
        const result = verifyAuditLog(options.stateDir);
        if (result.ok) {
          io.out(`audit trail ok: ${result.count} events, hash chain intact`);
          return 0;
        }
        io.err(`audit trail broken: ${result.problem}`);
        return 1;
      }
      case 'keygen': {
        if (rest.length > 0) {
          io.err('usage: pvdifyd keygen   (writes PVDIFY_AGE_KEY_FILE)');
          return 1;
        }
        const options = readEnvOptions(env, 'cli');
        const recipient = await keygen(options.ageKeyFile);
        io.out(`wrote ${options.ageKeyFile} (mode 0600)\npublic key: ${recipient}`);
        io.err('Back this file up somewhere safe: without it no config version can be decrypted.');
        return 0;
      }
      case 'sops': {
        const [verb, file, ...extra] = rest;
        if ((verb !== 'decrypt' && verb !== 'encrypt') || !file || extra.length > 0) {
          io.err('usage: pvdifyd sops decrypt FILE | pvdifyd sops encrypt FILE');
          return 1;
        }
        const options = readEnvOptions(env, 'cli');
        const text = verb === 'decrypt'
          ? await decryptFileForOperator(file, options.ageKeyFile)
          : await encryptFileForOperator(file, options.ageKeyFile, options.extraRecipients);
        process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        return 0;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 1 : 0;
      default:
        io.err(`pvdifyd: unknown command ${JSON.stringify(command.slice(0, 80))}\n\n${USAGE}`);
        return 1;
    }
  } catch (e) {
    if (isPvdifyError(e)) {
      io.err(`pvdifyd: ${e.message}`);
      if (e.hint) io.err(`  ${e.hint}`);
      return 1;
    }
    io.err(`pvdifyd: internal error: ${(e as Error).message}`);
    return 2;
  }
}
