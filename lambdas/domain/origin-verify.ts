import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * With the optional WAF (docs/approval.md, "WAF in front of the page"), CloudFront adds a header
 * with a generated value to every request it forwards. A request without it was sent straight to
 * execute-api, around the WAF, and is refused before anything is read or decided.
 */
export interface OriginVerification {
  /** Lower-case header name. */
  readonly header: string;
  readonly value: string;
}

/** The check configured by the environment, or undefined when the page has no CloudFront in front. */
export function originVerificationFrom(
  env: Readonly<Record<string, string | undefined>>,
): OriginVerification | undefined {
  const header = env['ORIGIN_VERIFY_HEADER'];
  const value = env['ORIGIN_VERIFY_VALUE'];
  if (!header && !value) return undefined;
  if (!header || !value) throw new Error('ORIGIN_VERIFY_HEADER and ORIGIN_VERIFY_VALUE must be set together');
  return { header: header.toLowerCase(), value };
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** True when the request carries the expected header value (compared in constant time). */
export function cameThroughOrigin(
  headers: Readonly<Record<string, string | undefined>>,
  verification: OriginVerification,
): boolean {
  const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === verification.header);
  if (entry?.[1] === undefined) return false;
  return timingSafeEqual(digest(entry[1]), digest(verification.value));
}
