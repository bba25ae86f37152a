import type { ExecutionDocument, MigrationPin } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import { classifyMigrations, describeFinding } from '../domain/replication-compat';
import type { Ports } from '../ports';
import { loadMigrationSet } from './migrations';

export type MigrationSetResult = NonNullable<ExecutionDocument['migrationSet']>;

/**
 * ValidateMigrations, before any side effect: the migration set must be there and every file
 * readable SQL (not empty, UTF-8, under the size limit). Each file is pinned by SHA-256 and S3
 * version id, for ApplySql and the approval. A bad file stops the run here, with
 * its name, instead of half-way through green. (A state of its own so that Preflight's Lambda
 * does not carry an S3 client.)
 *
 * With replication (online mode, or failback after cutover), every statement must also keep the
 * stream working (domain/replication-compat.ts): what would break it is refused with file and
 * line; what might break it is kept in `warnings`, which the approval shows.
 */
export async function validateMigrations(
  doc: ExecutionDocument,
  { migrations }: Pick<Ports, 'migrations'>,
): Promise<MigrationSetResult> {
  const { input } = doc;
  const settings = input.migrations;
  if (!settings) return { files: [] };
  try {
    const set = await loadMigrationSet(migrations, settings.s3Prefix);
    // Pinned: ApplySql runs exactly these bytes, and the approval shows these hashes.
    const pins: MigrationPin[] = set.map((m) => ({
      name: m.name,
      sha256: m.sha256,
      ...(m.versionId ? { versionId: m.versionId } : {}),
    }));
    const streams = { forward: input.mode === 'online', reverse: input.failback };
    const { refused, warned } = await classifyMigrations(set, streams);
    if (refused.length) {
      const why = streams.forward ? 'online mode' : 'failback';
      throw new PreconditionFailed(
        `migrations.s3Prefix: ${refused.length} statement(s) of ${settings.s3Prefix} would break replication (${why}; docs/migrations.md, "Migrations in online mode"): ${refused.map(describeFinding).join('; ')}; nothing was changed.`,
      );
    }
    return {
      files: set.map((m) => m.name),
      pins,
      ...(warned.length ? { warnings: warned.map(describeFinding) } : {}),
    };
  } catch (error) {
    if (error instanceof PreconditionFailed && error.message.startsWith('migrations.s3Prefix: ')) throw error;
    if (error instanceof PreconditionFailed) {
      throw new PreconditionFailed(`migrations.s3Prefix: ${error.message}; nothing was changed.`);
    }
    throw error;
  }
}
