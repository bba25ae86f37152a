/** Longest smoke-test value (and expectation) kept in the document, the email and the page. */
export const MAX_SMOKE_VALUE_LENGTH = 200;

/** `value` cut to `max` characters (code points), with an ellipsis saying it was cut. */
export function truncateValue(value: string, max = MAX_SMOKE_VALUE_LENGTH): string {
  const chars = [...value];
  return chars.length <= max ? value : `${chars.slice(0, max - 1).join('')}…`;
}
