/**
 * Fail-fast readers of the Lambda environment. A missing variable is a deployment mistake: fail at
 * module load with a message that names it, rather than later with `undefined` in an AWS call.
 */

/** The value of `name`; throws when it is unset or blank. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(`Environment variable ${name} is required but is not set`);
  }
  return value;
}

/** The value of `name` as a positive integer; throws when it is unset or not one. */
export function requirePositiveIntEnv(name: string, env: NodeJS.ProcessEnv = process.env): number {
  const raw = requireEnv(name, env);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`Environment variable ${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}
