/** Longest smoke-test value (and expectation) kept in the document, the email and the page. */
export const MAX_SMOKE_VALUE_LENGTH = 200;

/** `value` cut to `max` characters (code points), with an ellipsis saying it was cut. */
export function truncateValue(value: string, max = MAX_SMOKE_VALUE_LENGTH): string {
  const chars = [...value];
  return chars.length <= max ? value : `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * Bounds for values that grow with what a run meets (a smoke test's value, a server's message, a
 * long list of files): the execution document must stay far below Step Functions' 256 KB, since
 * `States.DataLimitExceeded` is not caught by `States.ALL` and would leave blue fenced.
 */

/** An error message (it reaches `$.error.Cause` and the failure report). */
export const MAX_ERROR_MESSAGE_CHARS = 4_000;
/** One value shown as evidence (a smoke test's first column, a server error in a result). */
export const MAX_EVIDENCE_CHARS = 500;
/** The execution input as JSON: the rest of the document is built on top of it. */
export const MAX_INPUT_CHARS = 32_768;

/** `text` cut to at most `max` characters, saying how much was left out. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const omitted = `… [${text.length} characters, truncated]`;
  return `${text.slice(0, Math.max(0, max - omitted.length))}${omitted}`;
}

/** Longest reject reason an email shows (the page accepts 1,000; the CLI path is not limited). */
export const MAX_EMAILED_REASON_LENGTH = 1000;

/**
 * A person's free text (a reject reason) as a plain-text email may show it: control and
 * bidirectional-override characters removed, cut to `max`, every line quoted with `> ` so that it
 * cannot pass for the notice's own lines, and links defanged (`https[:]//`) so that mail clients
 * do not make them clickable.
 */
export function quotedForEmail(text: string, max = MAX_EMAILED_REASON_LENGTH): string {
  const clean = text
    .replace(/\r\n?/g, '\n')
    // C0/C1 controls except the newline, and the Unicode bidi overrides/isolates (Trojan Source).
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '')
    .replace(/\b([a-z][a-z0-9+.-]*):\/\//gi, '$1[:]//')
    .trim();
  return truncateValue(clean, max)
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n');
}
