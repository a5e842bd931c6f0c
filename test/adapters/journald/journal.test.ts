import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExternalToolError, InvalidInputError } from '../../../src/core/errors.ts';
import {
  createJournal,
  decodeFieldValue,
  isPodmanNoise,
  journalctlArgs,
  MAX_MESSAGE_CHARS,
  parseJournalLine,
  parseJournalOutput,
  realtimeToIso,
} from '../../../src/adapters/journald/journal.ts';

// Lines shaped like `journalctl -o json` output (journalctl(1) "json", systemd.journal-fields(7)).
const CONTAINER_LINE = JSON.stringify({
  __CURSOR: 's=e776d5d5b01e4814b5e473b573b06595;i=1c1;b=bbde3257bb214f14bcc4cc3d754c9d83;m=292da25b;t=661d160109e13;x=1c854551797a3fa3',
  __REALTIME_TIMESTAMP: '1736244000123456',
  __MONOTONIC_TIMESTAMP: '690856539',
  _BOOT_ID: 'bbde3257bb214f14bcc4cc3d754c9d83',
  PRIORITY: '6',
  MESSAGE: 'listening on :3000\n',
  SYSLOG_IDENTIFIER: 'pvdify-shop-web-blue-1',
  CONTAINER_NAME: 'pvdify-shop-web-blue-1',
  CONTAINER_ID: '1a2fb6ae49b9',
  _SYSTEMD_UNIT: 'pvdify-shop-web@blue-1.service',
  _COMM: 'conmon',
  PVDIFY_APP: 'shop',
});
const SYSTEMD_LINE = JSON.stringify({
  __CURSOR: 's=e776;i=1c0',
  __REALTIME_TIMESTAMP: '1736244000000000',
  _BOOT_ID: 'bbde3257bb214f14bcc4cc3d754c9d83',
  MESSAGE: 'Started pvdify-shop-web@blue-1.service - pvdify shop web.1 (blue, release v7).',
  UNIT: 'pvdify-shop-web@blue-1.service',
  _SYSTEMD_UNIT: 'init.scope',
  SYSLOG_IDENTIFIER: 'systemd',
  JOB_TYPE: 'start',
});
// Not valid UTF-8 ("hi" then 0xff): journald prints the bytes as an array of numbers.
const BINARY_LINE = JSON.stringify({
  __REALTIME_TIMESTAMP: '1736244001000000',
  MESSAGE: [104, 105, 32, 255, 10],
  _SYSTEMD_UNIT: 'pvdify-shop-worker@green-2.service',
});
// Too large to print without --all: the value is null.
const NULL_LINE = JSON.stringify({ __REALTIME_TIMESTAMP: '1736244002000000', MESSAGE: null, _SYSTEMD_UNIT: 'pvdify-shop-web@blue-1.service' });
// A field that occurs twice in one entry: an array of values (one of them binary).
const REPEATED_LINE = JSON.stringify({
  __REALTIME_TIMESTAMP: '1736244003000000',
  MESSAGE: ['first value', 'second value'],
  CONTAINER_NAME: [[112, 118, 100], 'other'],
  _SYSTEMD_UNIT: 'pvdify-shop-web@blue-1.service',
});
const PODMAN_EVENT_LINE = JSON.stringify({
  __REALTIME_TIMESTAMP: '1736244004000000',
  MESSAGE: '2025-01-07 10:00:04 +0000 UTC container died 1a2fb6ae (image=shop, name=pvdify-shop-web-blue-1)',
  PODMAN_EVENT: 'died',
  SYSLOG_IDENTIFIER: 'podman',
  _SYSTEMD_UNIT: 'pvdify-shop-web@blue-1.service',
});
const PODMAN_CID_LINE = JSON.stringify({
  __REALTIME_TIMESTAMP: '1736244005000000',
  MESSAGE: 'bd15042a372ae55fc7851fe339549f403dd47bd98e1257a137aecffbd2ab6f63',
  SYSLOG_IDENTIFIER: 'podman',
  _SYSTEMD_UNIT: 'pvdify-shop-web@blue-1.service',
});
const PODMAN_ERROR_LINE = JSON.stringify({
  __REALTIME_TIMESTAMP: '1736244006000000',
  MESSAGE: 'Error: localhost:5000/shop:v9: image not known',
  SYSLOG_IDENTIFIER: 'podman',
  _SYSTEMD_UNIT: 'pvdify-shop-web@blue-1.service',
});

describe('journal JSON parsing', () => {
  it('takes the message, time and container as source from a container line', () => {
    const e = parseJournalLine(CONTAINER_LINE);
    assert.ok(e);
    assert.equal(e.message, 'listening on :3000');
    assert.equal(e.time, '2025-01-07T10:00:00.123Z');
    assert.equal(e.source, 'pvdify-shop-web-blue-1');
    assert.equal(e.fields.PVDIFY_APP, 'shop');
  });

  it('names the unit, not init.scope, for systemd’s messages about it', () => {
    const e = parseJournalLine(SYSTEMD_LINE);
    assert.equal(e?.source, 'pvdify-shop-web@blue-1.service');
    assert.equal(e?.time, '2025-01-07T10:00:00.000Z');
  });

  it('decodes byte-array messages as UTF-8, replacing invalid bytes', () => {
    const e = parseJournalLine(BINARY_LINE);
    assert.equal(e?.message, 'hi \uFFFD');
    assert.equal(e?.source, 'pvdify-shop-worker@green-2.service');
  });

  it('turns a null message into an empty line', () => {
    const e = parseJournalLine(NULL_LINE);
    assert.equal(e?.message, '');
    assert.equal(e?.fields.MESSAGE, null);
  });

  it('keeps the first value of a repeated field', () => {
    const e = parseJournalLine(REPEATED_LINE);
    assert.equal(e?.message, 'first value');
    assert.equal(e?.source, 'pvd');
  });

  it('decodes field values of every documented shape', () => {
    assert.equal(decodeFieldValue('text'), 'text');
    assert.equal(decodeFieldValue(null), null);
    assert.equal(decodeFieldValue(undefined), null);
    assert.equal(decodeFieldValue([]), '');
    assert.equal(decodeFieldValue([0xe2, 0x9c, 0x93]), '✓');
    assert.equal(decodeFieldValue([null, 'b']), 'b');
    assert.equal(decodeFieldValue([null, null]), null);
    assert.equal(decodeFieldValue({ nested: true }), null);
  });

  it('converts __REALTIME_TIMESTAMP microseconds to ISO', () => {
    assert.equal(realtimeToIso('1736244000999999'), '2025-01-07T10:00:00.999Z');
    for (const v of [null, '', 'abc', '-5', '0']) assert.equal(realtimeToIso(v), null, String(v));
  });

  it('skips blank, partial and non-object lines and caps huge messages', () => {
    const huge = JSON.stringify({ MESSAGE: 'x'.repeat(MAX_MESSAGE_CHARS + 10) });
    const entries = parseJournalOutput([CONTAINER_LINE, '', '{"MESSAGE": "cut of', '[1,2]', 'null', huge, SYSTEMD_LINE].join('\n'));
    assert.equal(entries.length, 3);
    assert.equal(entries[1]!.message.length, MAX_MESSAGE_CHARS + 1);
    assert.equal(entries[1]!.time, null);
    assert.equal(entries[1]!.source, 'journal');
  });

  it('tells podman bookkeeping from podman errors and app output', () => {
    const noise = [PODMAN_EVENT_LINE, PODMAN_CID_LINE].map((l) => parseJournalLine(l)!);
    const kept = [PODMAN_ERROR_LINE, CONTAINER_LINE, SYSTEMD_LINE].map((l) => parseJournalLine(l)!);
    assert.deepEqual(noise.map(isPodmanNoise), [true, true]);
    assert.deepEqual(kept.map(isPodmanNoise), [false, false, false]);
  });
});

describe('journalctl argv', () => {
  it('builds unit and field queries', () => {
    assert.deepEqual(journalctlArgs({ units: ['a@blue-1.service', 'b@green-2.service'], lines: 50 }).slice(0, 10), [
      '-u', 'a@blue-1.service', '-u', 'b@green-2.service', '-o', 'json', '-n', '50', '--no-pager', '--all',
    ]);
    const byApp = journalctlArgs({ matches: { PVDIFY_APP: 'shop', PVDIFY_PROCESS: 'web' }, lines: 5 });
    assert.deepEqual(byApp.slice(-2), ['PVDIFY_APP=shop', 'PVDIFY_PROCESS=web']);
    assert.ok(byApp.some((a) => a.startsWith('--output-fields=MESSAGE,')));
  });

  it('refuses queries that are empty, unbounded or not names', () => {
    assert.throws(() => journalctlArgs({ lines: 10 }), InvalidInputError);
    assert.throws(() => journalctlArgs({ units: ['x.service'], lines: 0 }), InvalidInputError);
    assert.throws(() => journalctlArgs({ units: ['--since=yesterday'], lines: 10 }), InvalidInputError);
    assert.throws(() => journalctlArgs({ matches: { 'lower': 'x' }, lines: 10 }), InvalidInputError);
    assert.throws(() => journalctlArgs({ matches: { PVDIFY_APP: 'a\nb' }, lines: 10 }), InvalidInputError);
  });
});

describe('createJournal (scripted journalctl)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pvdify-journal-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function fakeJournalctl(stdout: string, exitCode = 0, stderr = ''): Promise<string> {
    const bin = join(dir, `journalctl-${exitCode}`);
    await writeFile(join(dir, 'out.jsonl'), stdout);
    await writeFile(join(dir, 'err.txt'), stderr);
    await writeFile(
      bin,
      `#!/bin/sh\nprintf '%s\\n' "$@" > '${dir}/argv'\ncat '${dir}/out.jsonl'\ncat '${dir}/err.txt' >&2\nexit ${exitCode}\n`,
    );
    await chmod(bin, 0o755);
    return bin;
  }

  it('runs journalctl with the query and returns the newest lines, oldest first', async () => {
    const bin = await fakeJournalctl([SYSTEMD_LINE, CONTAINER_LINE, BINARY_LINE, ''].join('\n'));
    const entries = await createJournal({ path: bin }).read({ units: ['pvdify-shop-web@blue-1.service'], lines: 2 });
    assert.deepEqual(entries.map((e) => e.message), ['listening on :3000', 'hi \uFFFD']);
    const argv = (await readFile(join(dir, 'argv'), 'utf8')).trimEnd().split('\n');
    assert.deepEqual(argv.slice(0, 8), ['-u', 'pvdify-shop-web@blue-1.service', '-o', 'json', '-n', '2', '--no-pager', '--all']);
  });

  it('reports a failing journalctl as ExternalToolError with its message', async () => {
    const bin = await fakeJournalctl('', 1, 'Failed to add match: Invalid argument\n');
    const err = await createJournal({ path: bin }).read({ matches: { PVDIFY_APP: 'shop' }, lines: 5 }).catch((e: unknown) => e);
    assert.ok(err instanceof ExternalToolError);
    assert.match(err.message, /Failed to add match/);
  });
});
