import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Database } from '../ports';
import { requireEnv } from './env';
import { createPgDatabase } from './pg-database';
import { secretCredentials } from './secret-credentials';
import { traced } from './tracing';

/**
 * The Database port for the database Lambdas: credentials from Secrets Manager (the clone
 * carries blue's users, so one secret serves blue and green), TLS verified against the RDS
 * CAs that NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem adds to Node's store.
 */
export function databaseFromEnv(env: NodeJS.ProcessEnv = process.env): Database {
  return createPgDatabase({
    credentials: secretCredentials({
      client: traced(new SecretsManagerClient({})),
      secretId: requireEnv('DB_SECRET_ARN', env),
    }),
    ssl: { rejectUnauthorized: true },
    connectTimeoutMs: Number(env.DB_CONNECT_TIMEOUT_MS ?? 10_000),
  });
}
