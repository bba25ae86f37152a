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
 * Rollback: from any failure before OpenGreen (online mode: before UnguardGreen). Blue gets exactly its original security groups
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
  // Online mode opens green (with blue's deletion protection) before the switchover, while it is
  // guarded read-only: it has taken no application write, so it is still ours to delete.
  if (green.deletionProtection && green.status !== 'deleting') await clusters.setDeletionProtection(green.id, false);
  await advanceClusterDeletion(clusters, green.id, { mustBeOurs: doc });
  return true;
}

export async function checkRollback(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState & Sightings> {
  const asked = new Set<string>();
  // What blue looked like is trusted only when seen twice, a poll interval apart (across a Wait,
  // or inside one check's window): a describe right after a ModifyDBCluster may be stale.
  const previous = doc.wait?.['rollback'] as Sightings | undefined;
  const restored = new Sighting(previous?.blueRestoredSince, doc, clock);
  const blocked = new Sighting(previous?.blueBlockedSince, doc, clock);
  const seen = await settle(doc, clock, async () => {
    let blueDone = true;
    let blueStatus = 'untouched';
    if (doc.blue && doc.input.writeBlock === 'security-group' && !doc.input.dryRun) {
      const original = doc.blue.originalSecurityGroupIds;
      const blue = await clusters.describeCluster(doc.blue.id);
      blueStatus = blue ? blue.securityGroups.map((g) => `${g.id}:${g.status}`).join(',') : 'missing';
      // A write block that landed after Rollback looked leaves blue blocked with nothing in
      // flight: once that is seen twice, put the groups back from here (once per check).
      const settled =
        blue !== undefined &&
        blue.status === 'available' &&
        !blue.pendingModifications &&
        blue.securityGroups.every((g) => g.status === 'active');
      const stillBlocked =
        settled &&
        !sameSet(
          blue.securityGroups.map((g) => g.id),
          original,
        );
      blocked.look(stillBlocked);
      if (blue && stillBlocked && blocked.confirmed() && !asked.has(`groups:${blue.id}`)) {
        await clusters.setSecurityGroups(blue.id, original);
        asked.add(`groups:${blue.id}`);
        blocked.look(false);
      }
      restored.look(!blue || groupsActive(blue, original));
      blueDone = restored.confirmed();
    }
    let greenState = 'kept';
    if (!doc.input.keepGreenOnFailure) {
      const green = await clusters.describeCluster(doc.input.greenClusterId);
      greenState =
        !green || !isOurs(green.tags, doc)
          ? 'gone'
          : await advanceClusterDeletion(clusters, green.id, { mustBeOurs: doc, asked });
    }
    const done = blueDone && (greenState === 'gone' || greenState === 'kept');
    return { done, status: `blue ${blueStatus}; green ${greenState}` };
  });
  const state = poll(doc, 'rollback', clock, seen, 'the rollback');
  return {
    ...state,
    ...(restored.since ? { blueRestoredSince: restored.since } : {}),
    ...(blocked.since ? { blueBlockedSince: blocked.since } : {}),
  };
}

interface Sightings {
  /** When blue was first seen with its original groups, all active (not yet confirmed). */
  blueRestoredSince?: string;
  /** When blue was first seen blocked with nothing in flight (not yet confirmed). */
  blueBlockedSince?: string;
}

/**
 * A condition seen on consecutive looks: confirmed when an earlier check saw it too (a Wait lies
 * between), or when it has held for a poll interval within this check's window.
 */
class Sighting {
  private carried: boolean;
  constructor(
    public since: string | undefined,
    private readonly doc: ExecutionDocument,
    private readonly clock: Pick<Ports['clock'], 'now'>,
  ) {
    this.carried = since !== undefined;
  }

  look(holds: boolean): void {
    if (!holds) {
      this.since = undefined;
      this.carried = false;
    } else {
      this.since ??= this.clock.now().toISOString();
    }
  }

  confirmed(): boolean {
    if (this.since === undefined) return false;
    const heldMs = this.clock.now().getTime() - Date.parse(this.since);
    return this.carried || heldMs >= this.doc.input.pollIntervalSeconds * 1000;
  }
}
