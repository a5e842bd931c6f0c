import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AppSlot } from '../../src/core/model.ts';
import { MAX_STATE_FILE_BYTES, parseYamlSafe, parseYamlWith, readStateFileText, stringifyYaml, YamlRefusedError } from '../../src/store/yaml-io.ts';
import { tempDir } from './helpers.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/yaml/${name}`, import.meta.url), 'utf8');

function refused(text: string, pattern: RegExp): void {
  assert.throws(
    () => parseYamlSafe(text),
    (e: unknown) => e instanceof YamlRefusedError && pattern.test(e.message) && !e.message.includes('\n'),
  );
}

describe('parseYamlSafe', () => {
  it('parses a good app file that satisfies the schema', () => {
    const r = parseYamlWith(fixture('good-app.yaml'), AppSlot);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.value.bind_port, 3001);
    assert.equal(r.value.healthcheck.timeout, '5s', 'schema defaults are applied');
    assert.deepEqual(r.value.domain_routes, {});
  });

  it('refuses the anchor bomb quickly', () => {
    const started = performance.now();
    refused(fixture('anchor-bomb.yaml'), /alias/i);
    assert.ok(performance.now() - started < 500, 'refusal must not expand the aliases');
  });

  it('refuses !!js/function and custom tags', () => {
    refused(fixture('js-function-tag.yaml'), /tag/i);
    refused(fixture('custom-tag.yaml'), /tag/i);
    refused('a: !!str 1\n', /tags are not allowed/);
    refused('%TAG ! tag:evil.example,2000:\n---\na: !x 1\n', /tag/i);
  });

  it('refuses duplicate keys and several documents', () => {
    refused(fixture('duplicate-keys.yaml'), /line 4, column 1: Map keys must be unique/);
    refused(fixture('multi-document.yaml'), /multiple documents/);
  });

  it('refuses text over 1 MiB', () => {
    refused(`a: "${'x'.repeat(MAX_STATE_FILE_BYTES)}"\n`, /larger than/);
  });

  it('survives pathological nesting without crashing', () => {
    const deep = `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`;
    try {
      parseYamlSafe(deep);
    } catch (e) {
      assert.ok(e instanceof YamlRefusedError, `only refusals may escape, got ${String(e)}`);
    }
  });

  it('keeps __proto__ as plain data and does not merge << keys', () => {
    const proto = parseYamlSafe(fixture('proto-key.yaml')) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(proto), Object.prototype);
    assert.ok(Object.hasOwn(proto, '__proto__'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const r = parseYamlWith(fixture('proto-key.yaml'), AppSlot);
    assert.equal(r.ok, false);
    const merged = parseYamlSafe(fixture('merge-key.yaml')) as Record<string, unknown>;
    assert.equal(merged.status, undefined);
    assert.ok(Object.hasOwn(merged, '<<'));
  });

  it('reports the failing field path from the schema', () => {
    const text = fixture('good-app.yaml').replace('bind_port: 3001', 'bind_port: 99999').replace('count: 2', 'count: many');
    const r = parseYamlWith(text, AppSlot);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.match(r.message, /bind_port: /);
    assert.match(r.message, /processes\.web\.count: /);
  });

  it('round-trips what stringifyYaml writes, without anchors', () => {
    const shared = { path: '/health', interval: '30s', timeout: '5s', retries: 3 };
    const text = stringifyYaml({ a: shared, b: shared, when: '2026-01-05T10:30:00.000Z', n: '0x10' });
    assert.doesNotMatch(text, /[&*]/);
    assert.deepEqual(parseYamlSafe(text), { a: shared, b: shared, when: '2026-01-05T10:30:00.000Z', n: '0x10' });
  });
});

describe('readStateFileText', (t) => {
  it('refuses a 2 MiB file by its size, before reading it', (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'big.yaml');
    writeFileSync(path, `a: "${'x'.repeat(2 * 1024 * 1024)}"\n`);
    const r = readStateFileText(path);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.missing, false);
      assert.match(r.message, /bytes; state files are at most 1048576 bytes/);
    }
  });

  it('tells a missing file from an unreadable one', (t) => {
    const dir = tempDir(t);
    const r = readStateFileText(join(dir, 'nope.yaml'));
    assert.deepEqual(r, { ok: false, missing: true, message: 'file does not exist' });
    const d = readStateFileText(dir);
    assert.equal(d.ok, false);
    if (!d.ok) assert.equal(d.missing, false);
  });
  void t;
});
