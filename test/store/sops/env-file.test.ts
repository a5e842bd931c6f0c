import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { InvalidInputError } from '../../../src/core/errors.ts';
import { MAX_ENV_LINE_BYTES, renderEnvFile } from '../../../src/store/sops/env-file.ts';
import { makeTempDir } from './support.ts';

/** Values Podman must hand to the container byte for byte. */
const TRICKY: Record<string, string> = {
  PLAIN: 'value',
  EMPTY: '',
  LEADING: '   three leading spaces',
  TRAILING: 'two trailing spaces  ',
  TABS: '\tin\ttabs\t',
  HASH_START: '#not a comment',
  HASH_MIDDLE: 'a # b',
  DOUBLE_QUOTED: '"quoted"',
  SINGLE_QUOTED: "'single'",
  BACKTICK: '`cmd`',
  EQUALS: 'a=b==c',
  DOLLAR: '$HOME ${PATH} $(id)',
  BACKSLASH: 'C:\\path\\n\\t',
  UNICODE: 'grüße ✓ 日本 🚀',
  URL: 'postgres://user:p@ss@db:5432/app?sslmode=require',
  _LEADING_UNDERSCORE: 'ok',
};

describe('env-file: rendering', () => {
  it('writes sorted KEY=value lines, values verbatim', () => {
    assert.equal(renderEnvFile({ B: '2', A: '1', C: ' x ' }), 'A=1\nB=2\nC= x \n');
    assert.equal(renderEnvFile({}), '');
    const text = renderEnvFile(TRICKY);
    const lines = text.split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(lines.map((l) => l.slice(0, l.indexOf('='))), Object.keys(TRICKY).sort());
    for (const line of lines) {
      const key = line.slice(0, line.indexOf('='));
      assert.equal(line.slice(key.length + 1), TRICKY[key]);
    }
  });

  it('refuses values it cannot represent, naming the key and never the value', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ MULTI: 'line1\nsecret-line2' }, /MULTI contains a line break/],
      [{ CR: 'secret\rvalue' }, /CR contains a line break/],
      [{ CRLF: 'secret\r\n' }, /CRLF contains a line break/],
      [{ NUL: 'secret\0value' }, /NUL contains a NUL byte/],
      [{ SURROGATE: 'secret\uD800' }, /SURROGATE is not valid Unicode/],
      [{ LONG: 'secret'.padEnd(MAX_ENV_LINE_BYTES, 'x') }, /LONG is too long/],
      [{ lower: 'secret' }, /"lower" is not a valid environment variable name/],
      [{ '1ABC': 'secret' }, /not a valid environment variable name/],
      [{ 'A B': 'secret' }, /not a valid environment variable name/],
      [{ 'A=B': 'secret' }, /not a valid environment variable name/],
      [{ '': 'secret' }, /not a valid environment variable name/],
    ];
    for (const [values, pattern] of bad) {
      assert.throws(() => renderEnvFile({ OK: 'fine', ...values }), (e: unknown) => {
        assert.ok(e instanceof InvalidInputError);
        assert.match(e.message, pattern);
        assert.ok(!`${e.message} ${e.hint ?? ''}`.includes('secret'), `value leaked: ${e.message}`);
        return true;
      });
    }
  });

  it('accepts a line of exactly the maximum length', () => {
    const value = 'x'.repeat(MAX_ENV_LINE_BYTES - 'K='.length);
    assert.equal(renderEnvFile({ K: value }).length, MAX_ENV_LINE_BYTES + 1);
  });
});

describe('env-file: read back by podman run --env-file', () => {
  const IMAGE = `localhost/pvdify-envfile-test:${process.pid}`;
  let tmp: ReturnType<typeof makeTempDir>;
  let env: Record<string, string>;
  let skipReason: string | undefined;

  before(async () => {
    tmp = makeTempDir();
    const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
    const podman = await execa('podman', ['--version'], { reject: false }).catch(() => null);
    if (!podman || podman.exitCode !== 0) {
      skipReason = 'podman is not installed';
      return;
    }
    if (!busybox) {
      skipReason = 'busybox-static is not installed (needed for the test image)';
      return;
    }
    const conf = path.join(tmp.dir, 'containers.conf');
    fs.writeFileSync(conf, '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n');
    env = { CONTAINERS_CONF: conf };
    // A one-binary image from the host's static busybox: no registry, no network.
    const root = path.join(tmp.dir, 'rootfs');
    fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
    fs.copyFileSync(busybox, path.join(root, 'bin', 'busybox'));
    fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
    const tar = path.join(tmp.dir, 'rootfs.tar');
    await execa('tar', ['-C', root, '-cf', tar, 'bin']);
    await execa('podman', ['import', '--quiet', tar, IMAGE], { env });
  });

  after(async () => {
    if (!skipReason) await execa('podman', ['rmi', '--force', IMAGE], { env, reject: false });
    tmp.cleanup();
  });

  async function containerEnv(file: string, t: { skip(msg: string): void }): Promise<Map<string, string> | null> {
    if (skipReason) {
      console.log(`# skipping podman check: ${skipReason}`);
      t.skip(skipReason);
      return null;
    }
    // podman 4.3 sometimes loses the output of a container that exits at once (a race between
    // conmon and the attach): `env` always prints HOSTNAME, so an answer without it is retried.
    let stdout = '';
    for (let attempt = 0; attempt < 5 && !/^HOSTNAME=/m.test(stdout); attempt++) {
      const r = await execa('podman', ['run', '--rm', '--network=none', '--env-file', file, IMAGE, '/bin/busybox', 'env'], { env });
      stdout = r.stdout;
    }
    const out = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) out.set(line.slice(0, i), line.slice(i + 1));
    }
    return out;
  }

  it('hands every tricky value to the container unchanged', async (t) => {
    const file = path.join(tmp.dir, 'app.env');
    fs.writeFileSync(file, renderEnvFile(TRICKY), { mode: 0o600 });
    const got = await containerEnv(file, t);
    if (!got) return;
    for (const [key, value] of Object.entries(TRICKY)) assert.equal(got.get(key), value, key);
  });

  it('reads a line of the maximum length (the limit is podman\'s, not ours)', async (t) => {
    const file = path.join(tmp.dir, 'long.env');
    const value = 'y'.repeat(MAX_ENV_LINE_BYTES - 'LONG='.length);
    fs.writeFileSync(file, renderEnvFile({ LONG: value }));
    const got = await containerEnv(file, t);
    if (!got) return;
    assert.equal(got.get('LONG'), value);
    // One byte more is what podman refuses, which is why renderEnvFile refuses it first.
    fs.writeFileSync(file, `LONG=${value}y\n`);
    const r = await execa('podman', ['run', '--rm', '--network=none', '--env-file', file, IMAGE, '/bin/busybox', 'true'], { env, reject: false });
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /token too long/);
  });
});
