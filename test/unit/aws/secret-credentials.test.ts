import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { RetryableAwsError } from '../../../lambdas/domain/errors';
import { secretCredentials } from '../../../lambdas/aws/secret-credentials';

const secrets = mockClient(SecretsManagerClient);
const SECRET_ID = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-abc';

describe('secretCredentials', () => {
  beforeEach(() => secrets.reset());

  it('reads username and password from an RDS-managed secret and caches them per container', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ username: 'admin', password: 's3cr3t-value', engine: 'postgres' }),
    });
    let clock = 1_000;
    const credentials = secretCredentials({
      client: new SecretsManagerClient({}),
      secretId: SECRET_ID,
      ttlMs: 60_000,
      now: () => clock,
    });

    await expect(credentials()).resolves.toEqual({ username: 'admin', password: 's3cr3t-value' });
    await credentials();
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET_ID });

    clock += 60_001; // after the TTL a rotated password is picked up
    await credentials();
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
  });

  it('maps throttling to RetryableAwsError and does not cache the failure', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} });
    secrets
      .on(GetSecretValueCommand)
      .rejectsOnce(throttled)
      .resolves({
        SecretString: JSON.stringify({ username: 'admin', password: 'pw' }),
      });
    const credentials = secretCredentials({ client: new SecretsManagerClient({}), secretId: SECRET_ID });

    await expect(credentials()).rejects.toBeInstanceOf(RetryableAwsError);
    await expect(credentials()).resolves.toEqual({ username: 'admin', password: 'pw' });
  });

  it('rejects a secret without a password and never quotes the secret content', async () => {
    secrets
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ username: 'admin', pass: 'leaky-value' }) });
    const credentials = secretCredentials({ client: new SecretsManagerClient({}), secretId: SECRET_ID });

    const error = await credentials().catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/lacks a non-empty string "username" and "password"/);
    expect((error as Error).message).not.toContain('leaky-value');
  });

  it('rejects a secret that is not JSON without echoing it', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'plain-password-text' });
    const credentials = secretCredentials({ client: new SecretsManagerClient({}), secretId: SECRET_ID });

    const error = await credentials().catch((e: unknown) => e as Error);
    expect((error as Error).message).toMatch(/is not JSON/);
    expect((error as Error).message).not.toContain('plain-password-text');
  });
});
