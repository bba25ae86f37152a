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
