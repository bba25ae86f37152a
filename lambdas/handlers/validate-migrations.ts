/** ValidateMigrations: wiring only (docs/architecture.md); the logic is in the step. */
import { S3Client } from '@aws-sdk/client-s3';
import { S3MigrationSource } from '../aws/migration-source-s3';
import type { ExecutionDocument } from '../domain/document';
import { validateMigrations } from '../steps/validate-migrations';
import { stepHandler, traced } from './runtime';

// Clients at module scope: built once per container, reused by warm invocations.
const migrations = new S3MigrationSource(traced(new S3Client({})));

export const handler = stepHandler('ValidateMigrations', (event: ExecutionDocument) =>
  validateMigrations(event, { migrations }),
);
