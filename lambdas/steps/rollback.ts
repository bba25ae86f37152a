import type { ExecutionDocument, PollState } from '../domain/document';
import type { Ports } from '../ports';
import { advanceClusterDeletion, groupsActive, isOurs, poll, settle, sameSet } from './common';
import { unfenceBlue as unfence } from './unfence';

/**
 * UnfenceBlue: the first rollback state. Blue's databases get their write permission back
 * (ALTER DATABASE … RESET default_transaction_read_only for the databases the fence changed).
 */
export async function unfenceBlue(
  doc: ExecutionDocument,
  ports: Pick<Ports, 'database'>,
): Promise<{ databases: string[] }> {
  return { databases: await unfence(doc, ports) };
}

/**
 * Rollback: from any failure before OpenGreen. Blue gets exactly its original security groups
 * back; green (only ever a cluster carrying this execution's tag) is deleted unless the input
 * asks to keep it. Each call is idempotent; CheckRollback finishes what this starts.
 */
export async function rollback(
  doc: ExecutionDocument,
  { clusters, dns }: Pick<Ports, 'clusters' | 'dns'>,
): Promise<NonNullable<ExecutionDocument['rollback']>> {
  let blueRestored = false;
  // The TTL lowered for the cutover goes back to what it was; the target never left blue.
  if (doc.ttl?.changed && doc.blue) {
    const { hostedZoneId, recordName } = doc.input.cname;
    const record = await dns.getRecord(hostedZoneId, recordName);
    if (record && record.ttl !== doc.ttl.previousTtl) {
      await dns.upsertCname(
        hostedZoneId,
        recordName,
        doc.blue.cname.target,
        doc.ttl.previousTtl,
        `bluegreen ${doc.input.executionName}: rollback, TTL restored`,
      );
    }
  }
  // Only a run that may have detached blue's groups puts them back: otherwise a change a DBA
  // made meanwhile (during a day-long approval, say) would be silently undone.
  const mayHaveBlocked = doc.input.writeBlock === 'security-group' && !doc.input.dryRun;
  if (doc.blue && mayHaveBlocked) {
    const original = doc.blue.originalSecurityGroupIds;
    const blue = await clusters.describeCluster(doc.blue.id);
    const ids = blue?.securityGroups.map((g) => g.id) ?? [];
    // Ids alone are not enough: right after the detach RDS still lists the application groups
    // as `removing`, and the detach would complete after this check. Groups `adding` are our
    // own restore in flight (a re-run): asking again is not needed.
    const detachInFlight = blue?.securityGroups.some((g) => original.includes(g.id) && g.status === 'removing');
    if (blue && (!sameSet(ids, original) || detachInFlight)) {
      await clusters.setSecurityGroups(doc.blue.id, doc.blue.originalSecurityGroupIds);
    }
    blueRestored = Boolean(blue);
  }
  const greenDeleting = await advanceGreenRemoval(doc, clusters);
  return {
    blueRestored,
    blueUnfenced: (doc as { unfence?: { databases: string[] } }).unfence?.databases ?? [],
    greenDeleting,
    keptGreen: doc.input.keepGreenOnFailure,
  };
}

async function advanceGreenRemoval(doc: ExecutionDocument, clusters: Ports['clusters']): Promise<boolean> {
  if (doc.input.keepGreenOnFailure) return false;
  const green = await clusters.describeCluster(doc.input.greenClusterId);
  // A cluster with green's id that is not ours was there before us: never touch it.
  if (!green || !isOurs(green.tags, doc)) return false;
  await advanceClusterDeletion(clusters, green.id, { mustBeOurs: doc });
  return true;
}

export async function checkRollback(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState & { blueRestoredSince?: string }> {
  const asked = new Set<string>();
  // Blue counts as restored only when two looks, one poll apart or more, both see it so: a
  // single describe right after a ModifyDBCluster could still show the groups as they were.
  let blueRestoredSince = (doc.wait?.['rollback'] as { blueRestoredSince?: string } | undefined)?.blueRestoredSince;
  const seen = await settle(doc, clock, async () => {
    let blueDone = true;
    let blueStatus = 'untouched';
    if (doc.blue && doc.input.writeBlock === 'security-group' && !doc.input.dryRun) {
      const original = doc.blue.originalSecurityGroupIds;
      const blue = await clusters.describeCluster(doc.blue.id);
      blueDone = !blue || groupsActive(blue, original);
      blueStatus = blue ? blue.securityGroups.map((g) => `${g.id}:${g.status}`).join(',') : 'missing';
      // A write block that landed after Rollback looked (Rollback saw the groups still whole)
      // leaves blue blocked with nothing in flight: put the groups back from here.
      const settled = blue?.securityGroups.every((g) => g.status === 'active') ?? false;
      const ids = blue?.securityGroups.map((g) => g.id) ?? [];
      if (blue && settled && !sameSet(ids, original) && !asked.has(`groups:${blue.id}`)) {
        await clusters.setSecurityGroups(blue.id, original);
        asked.add(`groups:${blue.id}`);
        blueDone = false;
      }
    }
    let greenState = 'kept';
    if (!doc.input.keepGreenOnFailure) {
      const green = await clusters.describeCluster(doc.input.greenClusterId);
      greenState =
        !green || !isOurs(green.tags, doc)
          ? 'gone'
          : await advanceClusterDeletion(clusters, green.id, { mustBeOurs: doc, asked });
    }
    let blueConfirmed = blueDone;
    if (blueStatus !== 'untouched') {
      blueConfirmed = blueDone && blueRestoredSince !== undefined;
      if (!blueDone) blueRestoredSince = undefined;
      else blueRestoredSince ??= clock.now().toISOString();
    }
    const done = blueConfirmed && (greenState === 'gone' || greenState === 'kept');
    return { done, status: `blue ${blueStatus}; green ${greenState}` };
  });
  const state = poll(doc, 'rollback', clock, seen, 'the rollback');
  return blueRestoredSince ? { ...state, blueRestoredSince } : state;
}
