/** ApplySql: wiring only (docs/architecture.md); the logic is in the step. */
import { databaseFromEnv } from '../aws/database-from-env';
import { S3Client } from '@aws-sdk/client-s3';
import { S3MigrationSource } from '../aws/migration-source-s3';
import { RDSClient } from '@aws-sdk/client-rds';
import { RdsClusters } from '../aws/clusters-rds';
import type { ExecutionDocument } from '../domain/document';
import { applySql } from '../steps/migrations';
import { stepHandler, systemClock, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const database = databaseFromEnv();
const migrations = new S3MigrationSource(traced(new S3Client({})));
const clusters = new RdsClusters(traced(new RDSClient({})));

// The step derives each file's statement_timeout from when this invocation will be stopped.
export const handler = stepHandler('ApplySql', (event: ExecutionDocument, context) =>
  applySql(
    event,
    { database, migrations, clusters, clock: systemClock },
    { deadline: new Date(Date.now() + context.getRemainingTimeInMillis()) },
  ),
);
