import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsCall } from '../domain/aws-errors';
import type { DbCredentials } from './pg-database';

/**
 * Database credentials from a Secrets Manager secret shaped like the ones RDS manages
 * (`{"username": "...", "password": "...", ...}`). The value is cached per Lambda container
 * for `ttlMs`, so a warm Lambda does not call Secrets Manager for every session, and a rotated
 * password is picked up after at most `ttlMs`. The secret's content never reaches an error.
 */
export interface SecretCredentialsOptions {
  client: SecretsManagerClient;
  /** Secret ARN or name. */
  secretId: string;
  /** @default 300_000 (5 minutes) */
  ttlMs?: number;
  /** @default Date.now */
  now?: () => number;
}

export function secretCredentials(options: SecretCredentialsOptions): () => Promise<DbCredentials> {
  const ttlMs = options.ttlMs ?? 300_000;
  const now = options.now ?? Date.now;
  let cached: { value: Promise<DbCredentials>; expiresAt: number } | undefined;

  async function fetch(): Promise<DbCredentials> {
    const output = await awsCall(`GetSecretValue ${options.secretId}`, () =>
      options.client.send(new GetSecretValueCommand({ SecretId: options.secretId })),
    );
    return parseSecret(options.secretId, output.SecretString);
  }

  return () => {
    if (!cached || cached.expiresAt <= now()) {
      const value = fetch();
      cached = { value, expiresAt: now() + ttlMs };
      // A failed fetch is not cached: the next session asks again.
      value.catch(() => {
        if (cached?.value === value) cached = undefined;
      });
    }
    return cached.value;
  };
}

/** Parses the secret's JSON; errors say what is wrong without quoting the content. */
export function parseSecret(secretId: string, secretString: string | undefined): DbCredentials {
  if (!secretString) {
    throw new Error(`Secret ${secretId} has no SecretString (a binary secret cannot hold database credentials)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    throw new Error(`Secret ${secretId} is not JSON; expected {"username": ..., "password": ...} as RDS stores it`);
  }
  const record = (parsed ?? {}) as Record<string, unknown>;
  const { username, password } = record;
  if (typeof username !== 'string' || !username || typeof password !== 'string' || !password) {
    throw new Error(`Secret ${secretId} lacks a non-empty string "username" and "password"`);
  }
  return { username, password };
}
