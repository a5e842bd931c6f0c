// Recording stand-in for the `cloudflared` binary (not installable in tests). Installed as an
// executable by install.ts. Environment:
//   CLOUDFLARED_STUB_LOG         file that gets one JSON line per call: {"argv": [...], "config": "<text>"?}
//   CLOUDFLARED_STUB_REJECT      `ingress validate` fails (exit 1) for a config containing this text
//   CLOUDFLARED_STUB_DNS_FAIL    `route dns` fails for this hostname, as when a record already exists
//   CLOUDFLARED_STUB_RECORD_ID   `route dns` also prints `recordID=<value>`
// Output lines imitate cloudflared's log format (timestamp, level, message) on stderr.
import { appendFileSync, readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const env = process.env;
const ts = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const log = (entry) => {
  if (env.CLOUDFLARED_STUB_LOG) appendFileSync(env.CLOUDFLARED_STUB_LOG, `${JSON.stringify(entry)}\n`);
};

function configArg() {
  const i = argv.indexOf('--config');
  return i >= 0 ? argv[i + 1] : undefined;
}

if (argv[0] === '--version' || argv[0] === 'version') {
  log({ argv });
  process.stdout.write('cloudflared version 2024.8.2 (built 2024-08-20-0000 UTC)\n');
  process.exit(0);
}

if (argv[0] === 'tunnel' && argv.includes('ingress') && argv.at(-1) === 'validate') {
  const file = configArg();
  let text;
  try {
    text = readFileSync(file ?? '', 'utf8');
  } catch {
    log({ argv, config: null });
    process.stderr.write(`${ts()} ERR Cannot read ${file}\n`);
    process.exit(1);
  }
  log({ argv, config: text });
  process.stdout.write(`Validating rules from ${file}\n`);
  if (env.CLOUDFLARED_STUB_REJECT && text.includes(env.CLOUDFLARED_STUB_REJECT)) {
    process.stderr.write(`Validation failed: Rule #1 is refused by the stub (${env.CLOUDFLARED_STUB_REJECT})\n`);
    process.exit(1);
  }
  process.stdout.write('OK\n');
  process.exit(0);
}

if (argv[0] === 'tunnel' && argv[1] === 'route' && argv[2] === 'dns') {
  log({ argv });
  const [tunnel, hostname] = argv.slice(3);
  if (!tunnel || !hostname) {
    process.stderr.write(`${ts()} ERR "cloudflared tunnel route dns" requires exactly 2 arguments\n`);
    process.exit(1);
  }
  if (hostname === env.CLOUDFLARED_STUB_DNS_FAIL) {
    process.stderr.write(`${ts()} ERR Failed to add route: code: 1003, reason: Failed to create record ${hostname} with err An A, AAAA, or CNAME record with that host already exists.\n`);
    process.exit(1);
  }
  const id = env.CLOUDFLARED_STUB_RECORD_ID ? ` recordID=${env.CLOUDFLARED_STUB_RECORD_ID}` : '';
  process.stderr.write(`${ts()} INF Added CNAME ${hostname} which will route to this tunnel tunnelID=8f1c6f0e-2b0a-4f43-9d0e-6c1f1a2b3c4d${id}\n`);
  process.exit(0);
}

log({ argv });
process.stderr.write(`${ts()} ERR the cloudflared stub does not know: ${argv.join(' ')}\n`);
process.exit(2);
