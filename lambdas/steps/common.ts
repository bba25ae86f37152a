import type { BlueSnapshot, ExecutionDocument, GreenInfo, PollState } from '../domain/document';
import { EXECUTION_TAG, ROLE_TAG, SOURCE_TAG, rdsTagValue } from '../domain/document';
import { PollTimeout, PreconditionFailed, ResourceFailed, RetryableAwsError } from '../domain/errors';
import type { Clock, Cluster, Clusters } from '../ports';

/** Statuses from which a cluster or instance does not come back by itself. */
const TERMINAL_STATUSES = new Set([
  'failed',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
  'incompatible-parameters',
  'incompatible-network',
  'incompatible-restore',
  'incompatible-option-group',
  'storage-full',
  'restore-error',
]);

export function assertNotFailed(kind: string, id: string, status: string): void {
  if (TERMINAL_STATUSES.has(status)) {
    throw new ResourceFailed(`${kind} ${id} is in status "${status}", which it does not leave by itself.`);
  }
}

/**
 * One poll of a bounded Check → Choice → Wait loop. The count lives in the check's own result,
 * so the loop fails with PollTimeout after `maxPolls` polls instead of spinning forever.
 */
export function poll(
  doc: ExecutionDocument,
  key: string,
  clock: Clock,
  result: { done: boolean; status: string },
  what: string,
): PollState {
  const polls = (doc.wait?.[key]?.polls ?? 0) + 1;
  if (!result.done && polls >= doc.input.maxPolls) {
    const window = doc.input.checkWindowSeconds ? `, each looking for ${doc.input.checkWindowSeconds} s` : '';
    throw new PollTimeout(
      `Gave up waiting for ${what} after ${polls} polls every ${doc.input.pollIntervalSeconds} s${window} (last status: ${result.status}).`,
    );
  }
  return { done: result.done, polls, status: result.status, checkedAt: clock.now().toISOString() };
}

/** What one look at an asynchronous operation saw. */
export interface Observation {
  done: boolean;
  status: string;
}

/**
 * Looks at an operation until it is done or the check's window has passed: every
 * `checkEveryMs` for up to `checkWindowSeconds` (one look when the window is 0). Returns the
 * last look. A Wait state costs a whole interval after the operation ends; looking often for a
 * short while inside the Lambda notices the end sooner, and during cutover that time is
 * downtime. A retryable AWS error (throttling) backs off and looks again while the window lasts;
 * other errors (a failed resource, a vanished cluster) end the window at once.
 */
export async function settle<T extends Observation>(
  doc: ExecutionDocument,
  clock: Clock,
  look: () => Promise<T>,
): Promise<T> {
  // An execution started before these settings existed has neither: one look, as it had then.
  const windowMs = (doc.input.checkWindowSeconds ?? 0) * 1000;
  const everyMs = Math.max(10, doc.input.checkEveryMs ?? 1000);
  const until = clock.now().getTime() + windowMs;
  let pause = everyMs;
  for (;;) {
    let seen: T | undefined;
    try {
      seen = await look();
      pause = everyMs;
    } catch (error) {
      // Throttling or a busy API: back off and look again while the window lasts, rather than
      // spend one of the task's retries on it. Anything else ends the window at once.
      if (!(error instanceof RetryableAwsError) || until - clock.now().getTime() <= 0) throw error;
      pause = Math.min(pause * 2, 30_000);
    }
    const left = until - clock.now().getTime();
    if (seen && (seen.done || left <= 0)) return seen;
    if (left <= 0) continue; // the last look failed as the window closed: one more, which throws or sees
    await clock.sleep(Math.min(pause, left));
  }
}

export function requireBlue(doc: ExecutionDocument): BlueSnapshot {
  if (!doc.blue) throw new Error('The execution document has no $.blue: Preflight did not run.');
  return doc.blue;
}

export function requireGreen(doc: ExecutionDocument): GreenInfo {
  if (!doc.green) throw new Error('The execution document has no $.green: CreateClone did not run.');
  return doc.green;
}

/** Describes green; it must exist (a step after CreateClone). Green vanishing is not retryable. */
export async function describeGreen(
  clusters: Pick<Clusters, 'describeCluster'>,
  doc: ExecutionDocument,
): Promise<Cluster> {
  const green = await clusters.describeCluster(doc.input.greenClusterId);
  if (!green) throw new PreconditionFailed(`Green cluster ${doc.input.greenClusterId} is gone.`);
  return green;
}

export function isOurs(tags: Record<string, string>, doc: ExecutionDocument): boolean {
  return tags[EXECUTION_TAG] === rdsTagValue(doc.input.executionId);
}

/** The workflow's own tags, values in RDS's tag character set. */
export function workflowTags(doc: ExecutionDocument): Record<string, string> {
  return {
    [EXECUTION_TAG]: rdsTagValue(doc.input.executionId),
    [ROLE_TAG]: 'green',
    [SOURCE_TAG]: rdsTagValue(doc.input.blueClusterId),
  };
}

/** The prefix of the workflow's tag keys; blue's tags with it are never copied to green. */
export const WORKFLOW_TAG_PREFIX = 'bluegreen:';

/** Tags a resource of blue carries that green should carry too: not the workflow's, not AWS's reserved ones. */
export function ownTags(tags: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(tags ?? {}).filter(
      ([key]) => !key.startsWith(WORKFLOW_TAG_PREFIX) && !key.toLowerCase().startsWith('aws:'),
    ),
  );
}

/**
 * Green's tags: blue's own (cost allocation, ownership, backup plans select by tag) and the
 * workflow's, which win on a clash so that `isOurs` and the IAM tag conditions hold.
 */
export function greenTags(doc: ExecutionDocument, blueTags?: Record<string, string>): Record<string, string> {
  return { ...ownTags(blueTags), ...workflowTags(doc) };
}

/** Instance ids derived from green's id (never random), each at most 63 characters. */
export function greenWriterId(greenClusterId: string): string {
  return `${greenClusterId.slice(0, 59).replace(/-+$/, '')}-w01`;
}

export function greenReaderId(greenClusterId: string, index: number): string {
  return `${greenClusterId.slice(0, 59).replace(/-+$/, '')}-r${String(index + 1).padStart(2, '0')}`;
}

export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  return sa.size === new Set(b).size && [...sa].every((x) => b.includes(x));
}

export function groupsActive(cluster: Cluster, expected: readonly string[]): boolean {
  const ids = cluster.securityGroups.map((g) => g.id);
  return sameSet(ids, expected) && cluster.securityGroups.every((g) => g.status === 'active');
}

export function normalizeHost(host: string): string {
  return host.replace(/\.$/, '').toLowerCase();
}

/**
 * Advances the deletion of a cluster the workflow owns, one idempotent step per call:
 * instances first (Aurora refuses to delete a cluster that still has instances), then the
 * cluster, with a final snapshot when asked. Returns where it stands.
 */
export async function advanceClusterDeletion(
  clusters: Clusters,
  clusterId: string,
  options: {
    finalSnapshotId?: string;
    mustBeOurs?: ExecutionDocument;
    /**
     * What this check already asked to delete. A check looks several times within its window,
     * sooner than a describe may show `deleting`; it must not ask twice (AWS would refuse).
     */
    asked?: Set<string>;
  },
): Promise<'gone' | 'deleting-instances' | 'deleting-cluster'> {
  const asked = options.asked ?? new Set<string>();
  const cluster = await clusters.describeCluster(clusterId);
  if (!cluster) return 'gone';
  if (options.mustBeOurs && !isOurs(cluster.tags, options.mustBeOurs)) {
    throw new PreconditionFailed(
      `Refusing to delete cluster ${clusterId}: it does not carry this execution's ${EXECUTION_TAG} tag.`,
    );
  }
  if (cluster.status === 'deleting' || asked.has(`cluster:${clusterId}`)) return 'deleting-cluster';
  if (cluster.members.length > 0) {
    for (const member of cluster.members) {
      const instance = await clusters.describeInstance(member.instanceId);
      if (instance && instance.status !== 'deleting' && !asked.has(`instance:${member.instanceId}`)) {
        await clusters.deleteInstance(member.instanceId);
        asked.add(`instance:${member.instanceId}`);
      }
    }
    return 'deleting-instances';
  }
  await clusters.deleteCluster(clusterId, options.finalSnapshotId);
  asked.add(`cluster:${clusterId}`);
  return 'deleting-cluster';
}

/** `2026-12-05T02:00:00Z` → `261205020000`. */
export function stamp(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${String(d.getUTCFullYear()).slice(2)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
}
