import type { ExecutionDocument } from '../domain/document';
import { ddlGuardNames, replicationPrefix } from './replication';
import { MAX_EMAILED_REASON_LENGTH, quotedForEmail, truncateValue } from '../domain/truncate';
import type { Ports } from '../ports';
import { failbackFenceKey } from './failback';
import { inheritedSlotAdvice } from './verify-clone';

/** The facts of a finished run, for the notification and the console. */
export function summarize(doc: ExecutionDocument) {
  const cname = doc.wait?.cname as { downtimeMs?: number } | undefined;
  const deletion = doc.deletion as (ExecutionDocument['deletion'] & { kept?: string }) | undefined;
  return {
    execution: doc.input.executionName,
    dryRun: doc.input.dryRun,
    blue: doc.input.blueClusterId,
    green: doc.input.greenClusterId,
    from: doc.blue?.engineVersion,
    to: doc.input.targetEngineVersion ?? doc.blue?.engineVersion,
    migrationsApplied: doc.migrations?.applied.map((m) => m.name) ?? [],
    migrationsSkipped: doc.migrations?.skipped ?? [],
    fenceVerified: doc.verify?.fenceRowFound ?? false,
    // What blue's CDC consumers must do about the slots green inherited (docs/inherited-slots.md).
    ...(inheritedSlotAdvice(doc).length ? { inheritedSlots: inheritedSlotAdvice(doc) } : {}),
    sessionsTerminated: doc.fence?.terminatedSessions ?? 0,
    smokeTests: doc.smoke?.results ?? [],
    replicas: doc.replicas?.instanceIds ?? [],
    downtimeMs: cname?.downtimeMs,
    blueFinalSnapshot: deletion?.kept ? undefined : deletion?.finalSnapshotId,
    blueKept: deletion?.kept,
    masterUserSecret: deletion?.masterUserSecret?.instructions,
    // The decider's IP stays in the approvals table and the access log: the report goes to
    // notification-only recipients too, who must not learn it (docs/approval.md).
    approvedBy: doc.approval
      ? {
          decidedAt: doc.approval.decidedAt,
          ...(doc.approval.decidedBy ? { decidedBy: doc.approval.decidedBy } : {}),
        }
      : undefined,
    phases: phaseDurations(doc),
  };
}

function phaseDurations(doc: ExecutionDocument): Record<string, string> {
  const at = (iso?: string) => (iso ? Date.parse(iso) : undefined);
  const span = (a?: string, b?: string) => {
    const x = at(a);
    const y = at(b);
    return x !== undefined && y !== undefined ? `${Math.round((y - x) / 1000)} s` : 'n/a';
  };
  return {
    clone: span(doc.green?.requestedAt, doc.wait?.writer?.checkedAt),
    upgrade: span(doc.upgrade?.requestedAt, doc.wait?.upgrade?.checkedAt),
    replicas: span(doc.replicas?.requestedAt, doc.wait?.replicas?.checkedAt),
    fenceToInSync: span(doc.fence?.fencedAt, doc.wait?.cname?.checkedAt),
  };
}

/** Report: the success notification. */
export async function report(
  doc: ExecutionDocument,
  { notifier }: Pick<Ports, 'notifier'>,
): Promise<Record<string, unknown>> {
  // Failed back: the deployment ended on blue, on purpose; green is kept, fenced.
  const failedBack = Boolean(doc.failback);
  const status = doc.input.dryRun ? 'DRY_RUN_SUCCEEDED' : failedBack ? 'FAILED_BACK' : 'SUCCEEDED';
  const summary = { status, ...summarize(doc), ...(failedBack ? { failback: failbackSummary(doc) } : {}) };
  const subject = doc.input.dryRun
    ? `Dry run on ${doc.input.blueClusterId} succeeded`
    : failedBack
      ? `Deployment of ${doc.input.blueClusterId} failed back to blue`
      : `Blue/green deployment of ${doc.input.blueClusterId} succeeded`;
  const lines = failedBack
    ? [
        `Failed back: applications reach blue ${doc.input.blueClusterId} again through ${doc.input.cname.recordName}, with every write green committed (blue followed green through logical replication).`,
        `Green ${doc.input.greenClusterId} is kept, fenced (read-only)${doc.greenClosedGroups?.securityGroupIds ? `, with only the admin security group ${doc.input.adminSecurityGroupId} (closed to applications)` : ''}, for inspection: delete it when done (aws rds delete-db-instance for each instance, then aws rds delete-db-cluster --db-cluster-identifier ${doc.input.greenClusterId}).`,
        ...(doc.failbackDecision?.reason ? [`Reason given: ${quotedForEmail(doc.failbackDecision.reason)}`] : []),
      ]
    : doc.input.dryRun
      ? [
          `The dry run cloned ${doc.input.blueClusterId} as ${doc.input.greenClusterId}, ran every step but the write block, approval and cutover, and deleted the clone.`,
          `Phase durations estimate the downtime of a real run: ${JSON.stringify(summary.phases)}.`,
        ]
      : [
          `Applications now reach ${doc.input.greenClusterId} through ${doc.input.cname.recordName}.`,
          summary.blueKept
            ? String(summary.blueKept)
            : `Blue ${doc.input.blueClusterId} was deleted after ${doc.input.blueRetentionSeconds} s; its final snapshot is ${String(summary.blueFinalSnapshot)}.`,
          ...(summary.masterUserSecret ? [summary.masterUserSecret] : []),
          ...(summary.inheritedSlots ?? []),
        ];
  await notifier.publish(subject, `${lines.join('\n')}\n\n${JSON.stringify(summary, null, 2)}`);
  return summary;
}

function failbackSummary(doc: ExecutionDocument) {
  const reopened = doc.wait?.blueReopened as { freezeMs?: number; checkedAt?: string } | undefined;
  return {
    decidedAt: doc.failbackDecision?.decidedAt,
    greenFencedAt: doc.greenFence?.fencedAt,
    blueServingAt: reopened?.checkedAt,
    freezeMs: reopened?.freezeMs,
    sequencesMoved: doc.failbackSequences?.moved ?? 0,
    databases: doc.failbackReplication?.databases ?? [],
  };
}

interface FailureFacts {
  Error: string;
  Cause?: string;
}

/** Lambda failures arrive with a JSON cause ({ errorType, errorMessage, trace }); keep the message. */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: a plain message
  }
  return cause;
}

type Outcome =
  | 'NOTHING_CHANGED'
  | 'ROLLED_BACK'
  | 'ROLLBACK_FAILED'
  | 'CUTOVER_FAILED'
  | 'CLEANUP_FAILED'
  | 'RELEASE_FAILED'
  | 'FAILBACK_FAILED';

/**
 * ReportFailure: says what failed, why, what state everything is in, and what to do. Its
 * result feeds the final Fail state, so the execution ends Failed with the original error.
 */
export async function reportFailure(
  doc: ExecutionDocument & Record<string, unknown>,
  { notifier }: Pick<Ports, 'notifier'>,
): Promise<{ outcome: Outcome; error: string; cause: string; message: string; lockHeld: boolean }> {
  const get = (key: string) => doc[key] as FailureFacts | undefined;
  const cutover = get('cutoverError');
  const cleanup = get('cleanupError');
  const release = get('releaseError');
  const failback = get('failbackError');
  const primary = doc.error ??
    cutover ??
    failback ??
    cleanup ??
    release ?? { Error: 'Unknown', Cause: 'no error recorded' };
  const replicationLeft = get('replicationError');
  const rollbackFailure = get('rollbackError') ?? get('unfenceError');
  const input = doc.input as ExecutionDocument['input'] | undefined;
  const blueId = input?.blueClusterId ?? '(unknown)';
  const greenId = input?.greenClusterId ?? '(unknown)';
  const zone = input?.cname.hostedZoneId;
  const record = input?.cname.recordName;
  const originalGroups = doc.blue?.originalSecurityGroupIds.join(' ') ?? '';
  const reason = causeMessage(primary.Cause);
  const groupsDetached = Boolean(doc.block);
  // The lock is kept on purpose when a person must act first, and when releasing it failed.
  const lockHeld =
    Boolean(doc.lock) &&
    (Boolean(cutover) || Boolean(failback) || Boolean(rollbackFailure) || Boolean(release) || Boolean(replicationLeft));
  const lockLine = `The deployment lock on ${blueId} is still held, so no other run starts on it: when everything is in order, delete the item with lockKey "${blueId}" from the lock table.`;

  const failbackStillRuns =
    doc.failbackReplication && !doc.failbackStopped
      ? [
          `Blue still follows green (failback replication, databases ${doc.failbackReplication.databases.join(', ')}), and green's replication slots keep WAL until it is removed. Before deleting blue, on blue in each of those databases: ALTER SUBSCRIPTION <name> DISABLE; ALTER SUBSCRIPTION <name> SET (slot_name = NONE); DROP SUBSCRIPTION <name> (the names start with bg_ and end with _sub: SELECT subname FROM pg_subscription); then on green SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'bg\\_%\\_g2b\\_%'.`,
        ]
      : [];
  let outcome: Outcome;
  let situation: string[];
  if (cutover) {
    outcome = 'CUTOVER_FAILED';
    situation = [
      `The cutover to green failed at ${primary.Error}. Nothing was rolled back automatically: green may already have taken writes.`,
      groupsDetached
        ? `Blue ${blueId} is still fenced (read-only, application security groups detached) and holds every write up to the fence; green ${greenId} has the application groups ${doc.open ? 'attached' : 'possibly partly attached'}.`
        : `Blue ${blueId} is still fenced (read-only; its security groups were never changed) and holds every write up to the fence; green ${greenId} has the application groups ${doc.open ? 'attached' : 'possibly partly attached'}.`,
      `Check where ${record} points: aws route53 list-resource-record-sets --hosted-zone-id ${zone} --query "ResourceRecordSets[?Name=='${record}.']".`,
      `To finish the cutover: aws route53 change-resource-record-sets --hosted-zone-id ${zone} with an UPSERT of ${record} to green's endpoint.`,
      `To go back to blue instead (only if green took no writes): detach the application groups from green${groupsDetached ? `, aws rds modify-db-cluster --db-cluster-identifier ${blueId} --vpc-security-group-ids ${originalGroups} --apply-immediately` : ''}, ALTER DATABASE … RESET default_transaction_read_only on blue (${doc.fence?.changedDatabases.join(', ') || 'the fenced databases'}), and point ${record} at blue.`,
      ...failbackStillRuns,
    ];
  } else if (failback) {
    outcome = 'FAILBACK_FAILED';
    situation = failbackInstructions(doc, primary.Error);
  } else if (cleanup) {
    outcome = 'CLEANUP_FAILED';
    situation = [
      `The cutover succeeded: applications use green ${greenId} through ${record}.`,
      `Retaining or deleting blue failed (${primary.Error}). Blue ${blueId} is fenced and kept. When you are sure, take a snapshot and delete it: aws rds delete-db-cluster --db-cluster-identifier ${blueId} --final-db-snapshot-identifier ${blueId}-final (delete its instances first).`,
      ...failbackStillRuns,
    ];
  } else if (release && !doc.error) {
    outcome = 'RELEASE_FAILED';
    situation = [
      `The deployment itself ${doc.cutover ? `succeeded: applications use green ${greenId} through ${record}` : 'ended'}, but releasing the lock failed (${primary.Error}).`,
    ];
  } else if (!doc.lock) {
    outcome = 'NOTHING_CHANGED';
    situation = ['Nothing was changed: the run stopped before it took the lock or touched any resource.'];
  } else if (rollbackFailure) {
    outcome = 'ROLLBACK_FAILED';
    situation = [
      `The deployment failed and the automatic rollback did not finish: ${rollbackFailure.Error}: ${causeMessage(rollbackFailure.Cause)}.`,
      `Restore blue by hand: ${groupsDetached ? `aws rds modify-db-cluster --db-cluster-identifier ${blueId} --vpc-security-group-ids ${originalGroups} --apply-immediately; then, ` : ''}on each database the fence changed (${doc.fence?.changedDatabases.join(', ') || 'see the changed_databases column of bluegreen.fence in the postgres database on blue'}), ALTER DATABASE … RESET default_transaction_read_only.`,
      `Then delete green ${greenId} if it exists (it carries the tag bluegreen:execution=${input?.executionId}).`,
    ];
  } else {
    // Blue and green were handled, but replication left behind on blue still needs a person.
    outcome = replicationLeft ? 'ROLLBACK_FAILED' : 'ROLLED_BACK';
    const rb = doc.rollback;
    situation = [
      `Rolled back: blue ${blueId} ${groupsDetached ? 'has its original security groups back' : 'kept its security groups'}${doc.fence || doc.unfence ? ' and is writable again' : ''}; the CNAME was never changed${doc.ttl?.changed ? ' (its TTL is back to what it was)' : ''}.`,
      input?.keepGreenOnFailure || rb?.keptGreen
        ? `Green ${greenId} was kept for investigation, as the input asked; delete it when done.`
        : `Green ${greenId} was deleted (if it had been created).`,
    ];
  }
  if (replicationLeft) {
    // A forgotten slot retains WAL on blue until its storage fills: say exactly what to remove.
    situation.push(
      `Online mode: removing the replication failed (${causeMessage(replicationLeft.Cause)}). Remove it by hand: on green (if it still exists) DROP SUBSCRIPTION each subscription named ${replicationPrefix(input?.executionId ?? '', 'blue-to-green')}*; on blue SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE '${replicationPrefix(input?.executionId ?? '', 'blue-to-green')}%', then in each database DROP PUBLICATION of that prefix and DROP FUNCTION ${ddlGuardNames(input?.executionId ?? '').fn}() CASCADE (the DDL guard: the function and its event triggers). A slot left behind keeps WAL on blue until its storage is full.`,
    );
  }
  if ((cutover || cleanup) && doc.switchover && !doc.blueClosed) {
    // Online mode keeps blue's slots from CatchUpGreen until CloseBlue, which did not finish.
    const prefix = replicationPrefix(input?.executionId ?? '', 'blue-to-green');
    situation.push(
      `Online mode: blue may still hold this execution's replication slots (CloseBlue either did not run to its end or kept them as the evidence of the writes named above), and a slot keeps WAL on blue until its storage is full. Pools that reconnected to blue through a cached DNS answer may still hold read-only sessions there: once blue's application security groups are detached, end every session on blue (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'). Then see whether the slots hold anything (a write on blue after green caught up, not on green): SELECT count(*) FROM pg_logical_slot_peek_binary_changes('<slot>', NULL, NULL, 'proto_version', '1', 'publication_names', '<publication>') WHERE get_byte(data, 0) IN (73, 85, 68, 84) in the slot's database counts row changes (with failback it counts green's applied ones too: a transaction that has an 'O' (79) message is one of those). Then remove them: on blue SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE '${prefix}%', and in each database DROP PUBLICATION each publication named ${prefix}*.`,
    );
  }
  if (lockHeld) situation.push(lockLine);
  // An approver's reason is a person's free text, sent through the page (1,000 characters) or the
  // CLI (up to 32 KB): quoted and limited, never mixed into the notice's own lines.
  const headline =
    primary.Error === 'ApprovalRejected'
      ? `ApprovalRejected: the approver rejected the cutover. Their reason:\n${quotedForEmail(reason)}`
      : `${primary.Error}: ${reason}`;
  const message = [headline, '', ...situation].join('\n');
  const subject =
    outcome === 'ROLLED_BACK'
      ? `Deployment of ${blueId} rolled back: ${primary.Error}`
      : outcome === 'NOTHING_CHANGED'
        ? `Deployment of ${blueId} did not start: ${primary.Error}`
        : `ACTION NEEDED: deployment of ${blueId} ${outcome.toLowerCase().replace('_', ' ')}`;
  await notifier.publish(subject, message);
  const cause = primary.Error === 'ApprovalRejected' ? truncateValue(reason, MAX_EMAILED_REASON_LENGTH) : reason;
  return { outcome, error: primary.Error, cause: cause || primary.Error, message, lockHeld };
}

/**
 * What to do when failing back stopped part-way. No write is lost at any point: until blue is
 * reopened, green is fenced (read-only) and holds every write; blue has all of them once it
 * caught up. Which way to finish depends on how far the failback came.
 */
function failbackInstructions(doc: ExecutionDocument, error: string): string[] {
  const blueId = doc.input.blueClusterId;
  const greenId = doc.input.greenClusterId;
  const { hostedZoneId, recordName } = doc.input.cname;
  const greenDatabases = doc.greenFence?.changedDatabases.join(', ') || 'every user database';
  const reopenGreen = `To stay on green instead: on green, ALTER DATABASE … RESET default_transaction_read_only on ${greenDatabases}; ${recordName} still points at green.`;
  const lines = [
    `Failing back to blue ${blueId} stopped at ${error}. Nothing was undone automatically, and no write is lost.`,
  ];
  if (!doc.greenFence) {
    lines.push(
      `Green ${greenId} may be partly fenced (some databases read-only). ${reopenGreen} Or decide again: start the failback by hand as docs/failback.md describes.`,
    );
  } else if (!doc.failbackStopped) {
    lines.push(
      `Green ${greenId} is fenced (read-only) and holds every write; blue may not have all of them yet (the reverse replication is still running). Look at blue's subscriptions (SELECT * FROM pg_stat_subscription) and the PostgreSQL log of blue for the apply error.`,
      reopenGreen,
      `To finish the failback by hand once blue has green's fence row (SELECT * FROM bluegreen.fence WHERE execution_id = '${failbackFenceKey(doc)}' on blue): move blue's sequences past green's, drop the subscriptions on blue and the slots on green, then ALTER DATABASE … RESET default_transaction_read_only on blue (${doc.fence?.changedDatabases.join(', ') || 'the fenced databases'}), restore blue's security groups and point ${recordName} at blue (zone ${hostedZoneId}).`,
    );
  } else if (doc.failback && error === 'WritesAfterFence') {
    // CloseGreen found writes on green after blue caught up: blue serves, green keeps them.
    lines.push(
      `Blue ${blueId} serves again through ${recordName}, writable, with every write green committed until blue caught up. Green ${greenId} is kept, fenced and closed to applications, with the rows named above and its failback slots as the evidence. Copy those rows to blue, then drop green's slots (SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE '${replicationPrefix(doc.input.executionId, 'green-to-blue')}%') and publications, and delete green when done.`,
    );
  } else {
    const greenGroups = doc.greenClosedGroups?.securityGroupIds;
    const greenOpenGroups = [...new Set([doc.input.adminSecurityGroupId, ...(doc.blue?.accessSecurityGroupIds ?? [])])];
    lines.push(
      `Blue ${blueId} has every write green committed, and blue's subscriptions are removed${doc.greenClosed ? '' : ` (green's failback slots stay until dropped and keep WAL on green: SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE '${replicationPrefix(doc.input.executionId, 'green-to-blue')}%', once green is closed to applications)`}. Green ${greenId} is fenced (read-only)${greenGroups ? `, and its application security groups may already be detached (only the admin group ${doc.input.adminSecurityGroupId}): to stay on green, re-attach them (aws rds modify-db-cluster --db-cluster-identifier ${greenId} --vpc-security-group-ids ${greenOpenGroups.join(' ')} --apply-immediately) and reset default_transaction_read_only on green` : ''}.`,
      `Finish by hand: ALTER DATABASE … RESET default_transaction_read_only on blue (${doc.fence?.changedDatabases.join(', ') || 'the fenced databases'}) if not done${doc.block ? `, aws rds modify-db-cluster --db-cluster-identifier ${blueId} --vpc-security-group-ids ${doc.blue?.originalSecurityGroupIds.join(' ') ?? ''} --apply-immediately` : ''}, and UPSERT ${recordName} (zone ${hostedZoneId}) to blue's endpoint ${doc.blue?.endpoint ?? ''}.`,
    );
  }
  return lines;
}
