import type { ExecutionDocument, PollState } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { assertNotFailed, groupsActive, poll, settle, requireBlue } from './common';

/**
 * BlockWrites: detach the application access groups from blue, keeping only the admin group.
 * The groups' rules are never edited, so anything else sharing a group is untouched. Blue's
 * original list is in $.blue (saved by Preflight) for rollback and cutover. Established
 * connections survive this (connection tracking): FenceWrites deals with them.
 */
export async function blockWrites(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['block']>> {
  const blue = requireBlue(doc);
  const current = await clusters.describeCluster(blue.id);
  if (!current) throw new PreconditionFailed(`Blue cluster ${blue.id} disappeared before writes were blocked.`);
  const target = [doc.input.adminSecurityGroupId];
  const ids = current.securityGroups.map((g) => g.id);
  const alreadyBlocked = ids.length === 1 && ids[0] === target[0];
  if (!alreadyBlocked) await clusters.setSecurityGroups(blue.id, target);
  return { changed: true, securityGroupIds: target, blockedAt: clock.now().toISOString() };
}

export async function checkWritesBlocked(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState> {
  const blue = requireBlue(doc);
  const seen = await settle(doc, clock, async () => {
    const current = await clusters.describeCluster(blue.id);
    if (!current) throw new PreconditionFailed(`Blue cluster ${blue.id} disappeared while writes were being blocked.`);
    assertNotFailed('Blue cluster', blue.id, current.status);
    const done = groupsActive(current, [doc.input.adminSecurityGroupId]);
    return { done, status: current.securityGroups.map((g) => `${g.id}:${g.status}`).join(',') };
  });
  return poll(doc, 'block', clock, seen, "blue's security-group change");
}
