import type { ExecutionDocument, MigrationPin } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { loadMigrationSet } from './migrations';

/**
 * ValidateMigrations, before any side effect: the migration set must be there and every file
 * readable SQL (not empty, UTF-8, under the size limit). Each file is pinned by SHA-256 and S3
 * version id, for ApplySql and the approval. A bad file stops the run here, with
 * its name, instead of half-way through green. (A state of its own so that Preflight's Lambda
 * does not carry an S3 client.)
 */
export async function validateMigrations(
  doc: ExecutionDocument,
  { migrations }: Pick<Ports, 'migrations'>,
): Promise<{ files: string[]; pins?: MigrationPin[] }> {
  const settings = doc.input.migrations;
  if (!settings) return { files: [] };
  try {
    const set = await loadMigrationSet(migrations, settings.s3Prefix);
    // Pinned: ApplySql runs exactly these bytes, and the approval shows these hashes.
    const pins = set.map((m) => ({
      name: m.name,
      sha256: m.sha256,
      ...(m.versionId ? { versionId: m.versionId } : {}),
    }));
    return { files: set.map((m) => m.name), pins };
  } catch (error) {
    if (error instanceof PreconditionFailed) {
      throw new PreconditionFailed(`migrations.s3Prefix: ${error.message}; nothing was changed.`);
    }
    throw error;
  }
}
