import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { databaseFromEnv } from '../../../lambdas/aws/database-from-env';

const secrets = mockClient(SecretsManagerClient);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-abc';

describe('databaseFromEnv: the connection string a subscriber uses to reach a publisher', () => {
  beforeEach(() => secrets.reset());

  it("carries the admin secret's user and password, the cluster endpoint, and asks for TLS", async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ username: 'postgres', password: "it's s3cret", engine: 'postgres' }),
    });
    const database = databaseFromEnv({ DB_SECRET_ARN: SECRET_ARN });

    const conninfo = await database.replicationConninfo(
      { clusterId: 'orders-prod', host: 'orders-prod.cluster-abc.eu-west-1.rds.amazonaws.com', port: 5432 },
      'app',
    );

    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET_ARN });
    expect(conninfo).toBe(
      "host='orders-prod.cluster-abc.eu-west-1.rds.amazonaws.com' port='5432' dbname='app' user='postgres' password='it\\'s s3cret' sslmode=require",
    );
  });
});
