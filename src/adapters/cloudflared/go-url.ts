/**
 * The parts of Go's `net/url.Parse` that decide whether cloudflared accepts an origin service
 * URL: the scheme, opaque URLs (`localhost:8000` is scheme `localhost`, no host), the authority
 * and its host/port checks, the path. Query and fragment are split off and kept.
 */

export interface GoUrl {
  /** Lowercased, '' when there is none. */
  scheme: string;
  /** Set for `scheme:opaque` URLs (no `//`). */
  opaque: string;
  /** host[:port] as written ('' when there is no authority). */
  host: string;
  path: string;
  rawQuery: string;
  fragment: string;
}

export class GoUrlError extends Error {}

function getScheme(raw: string): { scheme: string; rest: string } {
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (/[A-Za-z]/.test(c)) continue;
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) return { scheme: '', rest: raw };
      continue;
    }
    if (c === ':') {
      if (i === 0) throw new GoUrlError('missing protocol scheme');
      return { scheme: raw.slice(0, i), rest: raw.slice(i + 1) };
    }
    return { scheme: '', rest: raw };
  }
  return { scheme: '', rest: raw };
}

// Characters Go allows unescaped in a host (RFC 3986 sub-delims, unreserved, ':' and brackets).
const HOST_OK = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]<>"%]$/;

function checkEscapes(s: string, what: string): void {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && !/^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      throw new GoUrlError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))} in ${what}`);
    }
  }
}

function parseHost(host: string): void {
  if (host.startsWith('[')) {
    const close = host.lastIndexOf(']');
    if (close < 0) throw new GoUrlError("missing ']' in host");
    const port = host.slice(close + 1);
    if (port !== '' && !/^:\d*$/.test(port)) throw new GoUrlError(`invalid port ${JSON.stringify(port)} after host`);
    return;
  }
  const colon = host.lastIndexOf(':');
  if (colon !== -1) {
    const port = host.slice(colon);
    if (!/^:\d*$/.test(port)) throw new GoUrlError(`invalid port ${JSON.stringify(port)} after host`);
  }
  for (const ch of host) {
    if (ch.codePointAt(0) as number >= 0x80) continue;
    if (!HOST_OK.test(ch)) throw new GoUrlError(`invalid character ${JSON.stringify(ch)} in host name`);
  }
  checkEscapes(host, 'host');
}

/** Parses like Go's `url.Parse`; throws GoUrlError with Go's kind of message. */
export function parseGoUrl(raw: string): GoUrl {
  if (/[\x00-\x1f\x7f]/.test(raw)) throw new GoUrlError('net/url: invalid control character in URL');
  let rest = raw;
  let fragment = '';
  const hash = rest.indexOf('#');
  if (hash !== -1) {
    fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  const s = getScheme(rest);
  const scheme = s.scheme.toLowerCase();
  rest = s.rest;
  let rawQuery = '';
  const q = rest.indexOf('?');
  if (q !== -1) {
    rawQuery = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  if (!rest.startsWith('/')) {
    if (scheme !== '') return { scheme, opaque: rest, host: '', path: '', rawQuery, fragment };
    const colon = rest.indexOf(':');
    const slash = rest.indexOf('/');
    if (colon !== -1 && (slash === -1 || colon < slash)) throw new GoUrlError('first path segment in URL cannot contain colon');
  }
  let host = '';
  if (rest.startsWith('//') && !(scheme === '' && rest.startsWith('///'))) {
    const authorityEnd = rest.indexOf('/', 2);
    const authority = authorityEnd === -1 ? rest.slice(2) : rest.slice(2, authorityEnd);
    rest = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
    const at = authority.lastIndexOf('@');
    if (at !== -1 && !/^[A-Za-z0-9\-._~!$&'()*+,;=:%]*$/.test(authority.slice(0, at))) throw new GoUrlError('net/url: invalid userinfo');
    host = at === -1 ? authority : authority.slice(at + 1);
    parseHost(host);
  }
  checkEscapes(rest, 'path');
  return { scheme, opaque: '', host, path: rest, rawQuery, fragment };
}

/** Go's `URL.Hostname()`: the host without port and brackets. */
export function goHostname(host: string): string {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close === -1 ? host.slice(1) : host.slice(1, close);
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** Go's `URL.Port()`: the digits after the last colon ('' when none). */
export function goPort(host: string): string {
  const m = /:(\d*)$/.exec(host.startsWith('[') ? host.slice(host.indexOf(']') + 1) : host);
  return m ? (m[1] as string) : '';
}
