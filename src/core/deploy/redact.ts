/**
 * Log lines from a failing container may print its own environment. Before they reach a reply,
 * every config value of the release (of 4+ chars, shorter ones would blank ordinary words) is
 * replaced by `***`.
 */
export function redactSecrets(lines: readonly string[], values: readonly string[]): string[] {
  const secrets = [...new Set(values.filter((v) => v.length >= 4))].sort((a, b) => b.length - a.length);
  if (secrets.length === 0) return [...lines];
  return lines.map((line) => {
    let out = line;
    for (const s of secrets) out = out.split(s).join('***');
    return out;
  });
}
