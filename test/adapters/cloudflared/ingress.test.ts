/**
 * Ingress validation and matching against cloudflared's own cases (shared/fixtures/cloudflared).
 * Upstream cases and source-derived cases run as separate suites so their failures are reported
 * apart, as the fixtures' README asks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchIngressRule, splitHostPort, validateIngress, validateIngressYaml, type IngressRule } from '../../../src/adapters/cloudflared/ingress.ts';
import { matchFixtures, validateFixtures, type FixtureRule, type MatchCase, type ValidateCase } from './fixtures.ts';

/** Our parsed rule in the fixtures' shape. */
function asFixtureRule(r: IngressRule): FixtureRule {
  const out: FixtureRule = { hostname: r.hostname, path: r.path, service_kind: r.service.kind };
  switch (r.service.kind) {
    case 'http':
    case 'tcp_over_ws':
      out.origin = r.service.origin;
      break;
    case 'unix_socket':
      out.socket_path = r.service.socketPath;
      out.scheme = r.service.scheme;
      break;
    case 'http_status':
      out.status_code = r.service.statusCode;
      break;
    case 'bastion':
      out.bastion_mode = true;
      break;
    default:
      break;
  }
  if (r.punycodeHostname !== null) out.punycode_hostname = r.punycodeHostname;
  return out;
}

function validationSuite(title: string, cases: ValidateCase[]): void {
  describe(title, () => {
    it('has cases', () => assert.ok(cases.length > 0));
    for (const c of cases) {
      it(`${c.valid ? 'accepts' : 'refuses'}: ${c.name}`, () => {
        const v = validateIngressYaml(c.config);
        if (c.valid) {
          assert.equal(v.valid, true, v.valid ? '' : `${v.reason}: ${v.message}`);
          if (v.valid && c.rules) assert.deepEqual(v.rules.map(asFixtureRule), c.rules);
          return;
        }
        assert.equal(v.valid, false, 'expected a refusal');
        if (v.valid) return;
        assert.ok(c.reason && c.reason in validateFixtures.reasons, `fixture reason ${c.reason} is documented`);
        assert.equal(v.reason, c.reason, v.message);
        // Our messages follow cloudflared's wording, including where it quotes Go's parsers.
        if (c.error_contains) assert.ok(v.message.includes(c.error_contains), `${JSON.stringify(v.message)} contains ${JSON.stringify(c.error_contains)}`);
      });
    }
  });
}

function matchSuite(title: string, cases: MatchCase[]): void {
  describe(title, () => {
    it('has cases', () => assert.ok(cases.length > 0));
    for (const c of cases) {
      it(c.name, () => {
        const v = validateIngressYaml(c.config);
        assert.ok(v.valid, v.valid ? '' : `${v.reason}: ${v.message}`);
        for (const r of c.requests) {
          assert.equal(matchIngressRule(v.rules, r.host, r.path), r.expect_rule_index, `${r.host} ${JSON.stringify(r.path)}`);
        }
      });
    }
  });
}

validationSuite('ingress validation: upstream cases', validateFixtures.cases);
validationSuite('ingress validation: source-derived cases', validateFixtures.source_derived_cases);
matchSuite('ingress matching: upstream cases', matchFixtures.cases);
matchSuite('ingress matching: source-derived cases', matchFixtures.source_derived_cases);

describe('ingress: beyond the fixtures', () => {
  it('counts the fixtures the README promises', () => {
    assert.equal(validateFixtures.cases.length, 40);
    assert.equal(validateFixtures.source_derived_cases.length, 7);
    assert.equal(matchFixtures.cases.reduce((n, c) => n + c.requests.length, 0), 39);
    assert.equal(matchFixtures.source_derived_cases.reduce((n, c) => n + c.requests.length, 0), 4);
  });

  it('refuses path regexes RE2 refuses: lookarounds and backreferences', () => {
    for (const path of ['^/(?=api)', '^/(?!admin)', '(?<=x)y', '(a)\\1', '(?P<n>a)(?P=n)']) {
      const v = validateIngress({ ingress: [{ hostname: 'a.example.com', path, service: 'http://127.0.0.1:3000' }, { service: 'http_status:404' }] });
      assert.equal(v.valid, false, path);
      if (!v.valid) {
        assert.equal(v.reason, 'invalid_path_regex');
        assert.equal(v.rule, 0);
        assert.match(v.message, /^Rule #1 has an invalid regex/);
      }
    }
  });

  it('applies RE2 syntax that JavaScript spells differently', () => {
    const v = validateIngress({
      ingress: [
        { hostname: 'a.example.com', path: '(?i)^/API/[[:digit:]]+\\z', service: 'http://127.0.0.1:3000' },
        { hostname: 'a.example.com', path: '^/(?P<v>v[0-9])/', service: 'http://127.0.0.1:3001' },
        { service: 'http_status:404' },
      ],
    });
    assert.ok(v.valid);
    assert.equal(matchIngressRule(v.rules, 'a.example.com', '/api/42'), 0);
    assert.equal(matchIngressRule(v.rules, 'a.example.com', '/api/42/x'), 2);
    assert.equal(matchIngressRule(v.rules, 'a.example.com', '/v2/things'), 1);
  });

  it('reports malformed documents instead of throwing', () => {
    assert.equal(validateIngressYaml('ingress: [').valid, false);
    const cases: [unknown, string][] = [
      [[1, 2], 'malformed'],
      [{ ingress: 'nope' }, 'malformed'],
      [{ ingress: ['http://x'] }, 'malformed'],
      [{ ingress: [{ service: { a: 1 } }] }, 'malformed'],
      [{ ingress: [] }, 'no_rules'],
    ];
    for (const [doc, reason] of cases) {
      const v = validateIngress(doc);
      assert.equal(v.valid ? 'valid' : v.reason, reason, JSON.stringify(doc));
    }
  });

  it('splits host and port like Go', () => {
    assert.deepEqual(splitHostPort('a.example.com:443'), { host: 'a.example.com', port: '443' });
    assert.deepEqual(splitHostPort('[::1]:80'), { host: '::1', port: '80' });
    assert.deepEqual(splitHostPort('a.example.com:'), { host: 'a.example.com', port: '' });
    assert.equal(splitHostPort('a.example.com'), null);
    assert.equal(splitHostPort('::1'), null);
  });
});
