import type { ExecutionDocument } from '../domain/document';
import { CloneMissingWrites } from '../domain/errors';
import type { Ports } from '../ports';
import { ADMIN_DATABASE, greenTarget, resetReadOnly, withSession } from './db';

export type VerifyResult = NonNullable<ExecutionDocument['verify']>;

/**
 * VerifyClone (docs/architecture.md): this execution's fence row must be on green. It was
 * committed on blue after every other write had stopped, so finding it proves the clone holds
 * every write committed before the fence. Then green gets its databases writable again: the
 * fence's `ALTER DATABASE` setting was cloned with the data.
 * In a dry run there is no fence: nothing to check and nothing to reset.
 */
export async function verifyClone(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database' | 'clusters'>,
): Promise<VerifyResult> {
  const fence = doc.fence;
  if (!fence) return { fenceRowFound: false, resetDatabases: [] };
  const target = await greenTarget(doc, ports.clusters);
  return withSession(ports.database, target, ADMIN_DATABASE, async (session) => {
    const table = await session.query<{ present: boolean }>(
      "SELECT to_regclass('bluegreen.fence') IS NOT NULL AS present",
    );
    const found = table.rows[0]?.present
      ? (
          await session.query(
            'SELECT 1 FROM bluegreen.fence WHERE execution_id = $1 AND lsn IS NOT NULL AND fenced_at IS NOT NULL',
            [doc.input.executionId],
          )
        ).rowCount > 0
      : false;
    if (!found) {
      throw new CloneMissingWrites(
        `Green cluster ${target.clusterId} does not contain the fence row of execution ${doc.input.executionId} ` +
          `(written on blue at ${fence.fencedAt}, WAL position ${fence.lsn}): the clone was taken from a point ` +
          'before the fence, so it may be missing writes that applications committed on blue. Rolling back.',
      );
    }
    const resetDatabases = await resetReadOnly(session, fence.changedDatabases);
    return { fenceRowFound: true, resetDatabases };
  });
}
