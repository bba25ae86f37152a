import type { ExecutionDocument, PollState } from '../domain/document';
import type { Cluster, Ports } from '../ports';
import { advanceClusterDeletion, normalizeHost, poll, settle, requireBlue, stamp } from './common';

export function finalSnapshotId(doc: ExecutionDocument): string {
  return `${doc.input.blueClusterId.slice(0, 40).replace(/-+$/, '')}-final-${stamp(doc.input.startedAt)}`;
}

/**
 * DeleteBlue, after RetainBlue: a final snapshot, deletion protection off only when the
 * configuration allows it, instances first, then the cluster. When blue is protected and the
 * configuration does not allow turning that off, blue is kept and the report says so.
 */
async function whyNotRetired(
  doc: ExecutionDocument,
  blue: Cluster,
  { dns }: Pick<Ports, 'clusters' | 'dns'>,
): Promise<string | undefined> {
  const { hostedZoneId, recordName } = doc.input.cname;
  const record = await dns.getRecord(hostedZoneId, recordName);
  const target = record?.values[0];
  const greenEndpoint = doc.cutover?.target;
  if (!target || !greenEndpoint || normalizeHost(target) !== normalizeHost(greenEndpoint)) {
    return `${recordName} no longer points at green (${target ?? 'no record'})`;
  }
  if (normalizeHost(target) === normalizeHost(blue.endpoint)) return `${recordName} points at blue again`;
  if (doc.input.writeBlock === 'security-group') {
    const ids = blue.securityGroups.map((g) => g.id);
    if (ids.some((id) => id !== doc.input.adminSecurityGroupId)) {
      return `application security groups are attached to blue again (${ids.join(', ')})`;
    }
  }
  return undefined;
}

export async function deleteBlue(
  doc: ExecutionDocument,
  { clusters, dns, clock }: Pick<Ports, 'clusters' | 'dns' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['deletion']> & { kept?: string }> {
  const blue = requireBlue(doc);
  const snapshotId = finalSnapshotId(doc);
  const requestedAt = clock.now().toISOString();
  const current = await clusters.describeCluster(blue.id);
  if (!current) return { finalSnapshotId: snapshotId, requestedAt };
  // Blue is deleted only if it is still retired: a DBA may have fallen back to it by hand
  // during the retention period. Then it is kept, and the report says why.
  const notRetired = await whyNotRetired(doc, current, { clusters, dns });
  if (notRetired) {
    return {
      finalSnapshotId: snapshotId,
      requestedAt,
      kept: `Blue ${blue.id} was kept, not deleted: ${notRetired}. Delete it by hand when you are sure.`,
    };
  }
  const masterUserSecret = await manageGreenMasterPassword(doc, clusters);
  const secret = masterUserSecret ? { masterUserSecret } : {};
  if (current.deletionProtection) {
    if (!doc.input.allowDeletionProtectionOff) {
      return {
        finalSnapshotId: snapshotId,
        requestedAt,
        ...secret,
        kept: `Blue ${blue.id} has deletion protection on and the configuration does not allow the workflow to turn it off; it was kept. Delete it by hand when you are sure.`,
      };
    }
    await clusters.setDeletionProtection(blue.id, false);
  }
  await advanceClusterDeletion(clusters, blue.id, { finalSnapshotId: snapshotId });
  return { finalSnapshotId: snapshotId, requestedAt, ...secret };
}

/**
 * Blue's master password is managed by RDS. The clone has blue's password but no secret of its
 * own, and RDS deletes blue's secret with blue. So once green is the live database, and before
 * blue goes, green gets ManageMasterUserPassword: RDS sets a new password and keeps it in
 * green's own secret. Not earlier: until cutover the workflow reaches green with blue's secret.
 */
async function manageGreenMasterPassword(
  doc: ExecutionDocument,
  clusters: Pick<Ports, 'clusters'>['clusters'],
): Promise<NonNullable<ExecutionDocument['deletion']>['masterUserSecret']> {
  const blueSecret = doc.blue?.masterUserSecret;
  if (!blueSecret) return undefined;
  const green = await clusters.describeCluster(doc.input.greenClusterId);
  const greenSecretArn =
    green?.masterUserSecret?.secretArn ??
    (await clusters.manageMasterUserPassword(doc.input.greenClusterId, blueSecret.kmsKeyId));
  const which = greenSecretArn ?? `the MasterUserSecret of ${doc.input.greenClusterId} (aws rds describe-db-clusters)`;
  return {
    blueSecretArn: blueSecret.secretArn,
    ...(greenSecretArn ? { greenSecretArn } : {}),
    instructions: `Green ${doc.input.greenClusterId} now has a master password of its own, managed by RDS in ${which}. Clients that read blue's secret ${blueSecret.secretArn} must read that one instead (RDS deletes blue's secret with blue); point this deployment's databaseSecretArn at it for the next run.`,
  };
}

export async function checkBlueDeleted(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState> {
  const deletion = doc.deletion as (ExecutionDocument['deletion'] & { kept?: string }) | undefined;
  if (deletion?.kept) return poll(doc, 'blueDeleted', clock, { done: true, status: 'kept' }, 'blue');
  const asked = new Set<string>();
  const seen = await settle(doc, clock, async () => {
    const state = await advanceClusterDeletion(clusters, doc.input.blueClusterId, {
      finalSnapshotId: finalSnapshotId(doc),
      asked,
    });
    return { done: state === 'gone', status: state };
  });
  return poll(doc, 'blueDeleted', clock, seen, `blue ${doc.input.blueClusterId} to be deleted`);
}
