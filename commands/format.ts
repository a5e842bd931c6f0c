/** Small formatting helpers shared by command modules (dates and releases as replies show them). */
import type { Release } from '../src/core/model.ts';

/** `2024-05-01 10:00 UTC`: minute precision is enough to read; JSON keeps the full timestamp. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function releaseRef(app: string, version: number): string {
  return `${app} v${version}`;
}

/** Who made a release: display name, falling back to the stable id. */
export function releaseAuthor(release: Release): string {
  return release.created_by_name.length > 0 ? release.created_by_name : release.created_by;
}

export function orDash(value: string | number | null | undefined): string {
  return value === null || value === undefined || value === '' ? '-' : String(value);
}
