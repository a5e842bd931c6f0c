/**
 * cloudflared's ingress rules, checked and matched the way cloudflared does it (read from its
 * documented behaviour and the fixtures in shared/fixtures/cloudflared), so pvdify can refuse a
 * tunnel config before cloudflared ever sees it.
 *
 * Per rule, in this order: the service, the `originRequest.access` block, a port in the hostname,
 * the wildcard position, the catch-all position, the path regex. Rules are checked in list order
 * and the first problem is reported. Messages number rules from 1; indexes count from 0.
 */
import { domainToASCII } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { GoUrlError, goHostname, goPort, parseGoUrl } from './go-url.ts';
import { Re2SyntaxError, compileRe2 } from './re2.ts';

/** Why a config is refused. The codes are pvdify's (cloudflared only has messages). */
export type IngressReason =
  | 'no_rules'
  | 'last_rule_not_catch_all'
  | 'catch_all_not_last'
  | 'hostname_has_port'
  | 'bad_wildcard'
  | 'service_url_unparseable'
  | 'service_missing_scheme_or_host'
  | 'service_has_path'
  | 'invalid_http_status'
  | 'invalid_path_regex'
  | 'access_team_name_missing'
  /** Not YAML, or a value of the wrong type (a rule that is not a mapping, ...). */
  | 'malformed';

/** Where a rule sends matching requests. */
export type IngressService =
  /** http, https, ws, wss: proxied as HTTP. `origin` is scheme://host[:port]. */
  | { kind: 'http'; origin: string }
  /** Any other scheme, proxied as TCP; ssh/rdp/smb/tcp get their default port. */
  | { kind: 'tcp_over_ws'; origin: string }
  | { kind: 'unix_socket'; socketPath: string; scheme: 'http' | 'https' }
  | { kind: 'http_status'; statusCode: number }
  | { kind: 'hello_world' }
  | { kind: 'bastion' }
  | { kind: 'socks_proxy' };

/** One validated ingress rule. */
export interface IngressRule {
  /** '' when the rule has none. */
  hostname: string;
  /** IDNA form of a non-ASCII hostname (it matches too), else null. */
  punycodeHostname: string | null;
  /** The RE2 pattern, null when there is none (or it is empty). */
  path: string | null;
  pathRegex: RegExp | null;
  service: IngressService;
}

export type IngressValidation =
  | { valid: true; rules: IngressRule[] }
  | { valid: false; reason: IngressReason; message: string; /** 0-based rule index, null for the whole file. */ rule: number | null };

const TCP_DEFAULT_PORTS: Record<string, string> = { ssh: '22', rdp: '3389', smb: '445', tcp: '7864' };
const HTTP_SCHEMES = new Set(['http', 'https', 'ws', 'wss']);

class RuleError extends Error {
  constructor(
    readonly reason: IngressReason,
    message: string,
  ) {
    super(message);
  }
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** YAML scalars become strings, as Go's YAML decoder does for string fields. */
function scalar(v: unknown, field: string, index: number): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new RuleError('malformed', `Rule #${index + 1}: ${field} must be a string`);
}

/**
 * Go's `net.SplitHostPort`: succeeds for `host:port` (one colon) and `[v6]:port`, else null.
 * cloudflared uses it both to refuse hostnames with a port and to drop the port of a request.
 */
export function splitHostPort(hostport: string): { host: string; port: string } | null {
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close === -1 || hostport[close + 1] !== ':') return null;
    const port = hostport.slice(close + 2);
    if (port.includes(':') || port.includes('[') || port.includes(']')) return null;
    return { host: hostport.slice(1, close), port };
  }
  const first = hostport.indexOf(':');
  if (first === -1 || first !== hostport.lastIndexOf(':')) return null;
  const host = hostport.slice(0, first);
  if (host.includes('[') || host.includes(']')) return null;
  return { host, port: hostport.slice(first + 1) };
}

function parseService(raw: string, bastionMode: boolean): IngressService {
  if (raw.startsWith('unix:')) return { kind: 'unix_socket', socketPath: raw.slice('unix:'.length), scheme: 'http' };
  if (raw.startsWith('unix+tls:')) return { kind: 'unix_socket', socketPath: raw.slice('unix+tls:'.length), scheme: 'https' };
  if (raw.startsWith('http_status:')) {
    const text = raw.slice('http_status:'.length);
    // strconv.ParseInt(text, 10, 32): optional sign, decimal digits, int32 range.
    const n = /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < -(2 ** 31) || n > 2 ** 31 - 1) {
      throw new RuleError('invalid_http_status', `invalid HTTP status code: ${JSON.stringify(text)} is not a number`);
    }
    if (n < 100 || n > 999) throw new RuleError('invalid_http_status', `invalid HTTP status code: ${n}`);
    return { kind: 'http_status', statusCode: n };
  }
  if (raw === 'hello_world' || raw === 'hello-world') return { kind: 'hello_world' };
  if (raw === 'bastion' || (raw === '' && bastionMode)) return { kind: 'bastion' };
  if (raw === 'socks-proxy') return { kind: 'socks_proxy' };
  let url;
  try {
    url = parseGoUrl(raw);
  } catch (e) {
    if (e instanceof GoUrlError) throw new RuleError('service_url_unparseable', `parse ${JSON.stringify(raw)}: ${e.message}`);
    throw e;
  }
  if (url.scheme === '' || goHostname(url.host) === '') {
    throw new RuleError('service_missing_scheme_or_host', `${raw} is an invalid address, please make sure it has a scheme and a hostname`);
  }
  if (url.path !== '') {
    throw new RuleError(
      'service_has_path',
      `${raw} is an invalid address, ingress rules don't support proxying to a different path on the origin service. The path will be the same as the eyeball request's path`,
    );
  }
  if (HTTP_SCHEMES.has(url.scheme)) return { kind: 'http', origin: `${url.scheme}://${url.host}` };
  const defaultPort = TCP_DEFAULT_PORTS[url.scheme];
  const host = defaultPort !== undefined && goPort(url.host) === '' ? `${url.host.replace(/:$/, '')}:${defaultPort}` : url.host;
  return { kind: 'tcp_over_ws', origin: `${url.scheme}://${host}` };
}

function checkAccess(originRequest: Record<string, unknown>): void {
  const access = originRequest.access;
  if (!isMap(access) || access.required !== true) return;
  const audTag = access.audTag;
  const teamName = typeof access.teamName === 'string' ? access.teamName : '';
  if (Array.isArray(audTag) && audTag.length > 0 && teamName === '') {
    throw new RuleError('access_team_name_missing', 'access.TeamName cannot be blank when access.audTags are present');
  }
}

function isCatchAll(hostname: string, path: string | null): boolean {
  return (hostname === '' || hostname === '*') && path === null;
}

/**
 * Validates a parsed cloudflared config document (the whole file: `ingress` plus anything else,
 * which is ignored apart from the global `originRequest` defaults).
 */
export function validateIngress(config: unknown): IngressValidation {
  if (config === null || config === undefined) return { valid: false, reason: 'no_rules', message: "The config file doesn't contain any ingress rules", rule: null };
  if (!isMap(config)) return { valid: false, reason: 'malformed', message: 'the config file must be a YAML mapping', rule: null };
  const ingress = config.ingress;
  if (ingress === undefined || ingress === null || (Array.isArray(ingress) && ingress.length === 0)) {
    return { valid: false, reason: 'no_rules', message: "The config file doesn't contain any ingress rules", rule: null };
  }
  if (!Array.isArray(ingress)) return { valid: false, reason: 'malformed', message: '`ingress` must be a list of rules', rule: null };
  const defaults = isMap(config.originRequest) ? config.originRequest : {};
  const rules: IngressRule[] = [];
  const last = ingress.length - 1;
  for (const [i, raw] of ingress.entries()) {
    try {
      if (!isMap(raw)) throw new RuleError('malformed', `Rule #${i + 1} must be a mapping`);
      if (raw.originRequest !== undefined && raw.originRequest !== null && !isMap(raw.originRequest)) {
        throw new RuleError('malformed', `Rule #${i + 1}: originRequest must be a mapping`);
      }
      const originRequest = { ...defaults, ...(isMap(raw.originRequest) ? raw.originRequest : {}) };
      const hostname = scalar(raw.hostname, 'hostname', i);
      const pathText = scalar(raw.path, 'path', i);
      const path = pathText === '' ? null : pathText;

      const service = parseService(scalar(raw.service, 'service', i), originRequest.bastionMode === true);
      checkAccess(originRequest);
      if (splitHostPort(hostname) !== null) throw new RuleError('hostname_has_port', 'Hostname cannot contain a port');
      if (hostname.lastIndexOf('*') > 0) {
        throw new RuleError(
          'bad_wildcard',
          'Hostname patterns can have at most one wildcard character, "*", and it can only be used for subdomains, e.g. "*.example.com"',
        );
      }
      if (i === last && !isCatchAll(hostname, path)) {
        throw new RuleError('last_rule_not_catch_all', 'The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)');
      }
      if (i < last && isCatchAll(hostname, path)) {
        throw new RuleError(
          'catch_all_not_last',
          `Rule #${i + 1} is matching the hostname '${hostname}', but this will match every hostname, meaning the rules which follow it will never be triggered.`,
        );
      }
      let pathRegex: RegExp | null = null;
      if (path !== null) {
        try {
          pathRegex = compileRe2(path);
        } catch (e) {
          if (e instanceof Re2SyntaxError) throw new RuleError('invalid_path_regex', `Rule #${i + 1} has an invalid regex: ${e.message}`);
          throw e;
        }
      }
      let punycodeHostname: string | null = null;
      if (/[^\x00-\x7f]/.test(hostname)) {
        // A failed conversion is ignored, as cloudflared does: the rule keeps only its own form.
        const ascii = domainToASCII(hostname);
        punycodeHostname = ascii !== '' && ascii !== hostname ? ascii : null;
      }
      rules.push({ hostname, punycodeHostname, path, pathRegex, service });
    } catch (e) {
      if (e instanceof RuleError) return { valid: false, reason: e.reason, message: e.message, rule: i };
      throw e;
    }
  }
  return { valid: true, rules };
}

/** Parses YAML text, then validates it; a YAML syntax error is reported as `malformed`. */
export function validateIngressYaml(text: string): IngressValidation {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    return { valid: false, reason: 'malformed', message: `not valid YAML: ${(e as Error).message.split('\n')[0] ?? ''}`, rule: null };
  }
  return validateIngress(doc);
}

function matchHost(ruleHost: string, reqHost: string): boolean {
  if (ruleHost === reqHost) return true;
  // Only a leading `*.` is a wildcard; it matches any depth but not the bare domain.
  return ruleHost.startsWith('*.') && reqHost.endsWith(ruleHost.slice(1));
}

function ruleMatches(rule: IngressRule, host: string, path: string): boolean {
  const hostMatch =
    rule.hostname === '' ||
    rule.hostname === '*' ||
    matchHost(rule.hostname, host) ||
    (rule.punycodeHostname !== null && matchHost(rule.punycodeHostname, host));
  return hostMatch && (rule.pathRegex === null || rule.pathRegex.test(path));
}

/**
 * The 0-based index of the rule a request goes to: the first that matches its host (port
 * dropped) and path, else the last rule (a catch-all in any valid config).
 */
export function matchIngressRule(rules: readonly IngressRule[], host: string, path: string): number {
  if (rules.length === 0) throw new RangeError('no ingress rules to match against');
  const bare = splitHostPort(host)?.host ?? host;
  const i = rules.findIndex((r) => ruleMatches(r, bare, path));
  return i === -1 ? rules.length - 1 : i;
}
