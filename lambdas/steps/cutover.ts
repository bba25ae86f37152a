import type { ExecutionDocument, PollState } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { describeGreen, groupsActive, poll, settle, requireBlue } from './common';

/** OpenGreen: attach blue's saved access groups to green. From here on nothing rolls back by itself. */
export async function openGreen(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['open']>> {
  const blue = requireBlue(doc);
  const id = doc.input.greenClusterId;
  const green = await describeGreen(clusters, doc);
  const wanted = [...new Set([doc.input.adminSecurityGroupId, ...blue.accessSecurityGroupIds])];
  // Blue's IAM roles (S3 import/export, Lambda, …): added now, not at the clone, so that green
  // reaches nothing outside itself before it is the live database. A retry skips those present.
  const present = new Set((green.associatedRoles ?? []).map((r) => r.roleArn));
  for (const role of blue.associatedRoles ?? []) {
    if (!present.has(role.roleArn)) await clusters.addRole(id, role.roleArn, role.featureName);
  }
  // Green was cloned without deletion protection (a failed run must be able to delete it); from
  // here on it is the database applications use, so it gets blue's protection back, in the same
  // ModifyDBCluster as the groups.
  const protect = blue.deletionProtection && !green.deletionProtection;
  if (!groupsActive(green, wanted) || protect) {
    await clusters.setSecurityGroups(id, wanted, protect ? { deletionProtection: true } : {});
  }
  return {
    securityGroupIds: wanted,
    openedAt: clock.now().toISOString(),
    ...(blue.associatedRoles?.length ? { roles: blue.associatedRoles.map((r) => r.roleArn) } : {}),
    deletionProtection: blue.deletionProtection,
  };
}

export async function checkGreenOpen(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState> {
  const wanted = doc.open?.securityGroupIds ?? [];
  const seen = await settle(doc, clock, async () => {
    const green = await describeGreen(clusters, doc);
    const done = groupsActive(green, wanted);
    return { done, status: green.securityGroups.map((g) => `${g.id}:${g.status}`).join(',') };
  });
  return poll(doc, 'open', clock, seen, "green's security groups");
}

/** SwapCname: UPSERT the CNAME to green's cluster endpoint. */
export async function swapCname(
  doc: ExecutionDocument,
  { clusters, dns, clock }: Pick<Ports, 'clusters' | 'dns' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['cutover']>> {
  const id = doc.input.greenClusterId;
  const green = await describeGreen(clusters, doc);
  const { hostedZoneId, recordName, cutoverTtlSeconds } = doc.input.cname;
  const requestedAt = clock.now().toISOString();
  const changeId = await dns.upsertCname(
    hostedZoneId,
    recordName,
    green.endpoint,
    cutoverTtlSeconds,
    `bluegreen ${doc.input.executionName}: cutover to ${id}`,
  );
  return { changeId, target: green.endpoint, requestedAt };
}

/** Done when Route 53 reports INSYNC; records the downtime (fence → in sync). */
export async function checkCname(
  doc: ExecutionDocument,
  { dns, clock }: Pick<Ports, 'dns' | 'clock'>,
): Promise<PollState & { downtimeMs?: number; inSyncAt?: string }> {
  if (!doc.cutover) throw new PreconditionFailed('CheckCname ran before SwapCname.');
  const changeId = doc.cutover.changeId;
  const seen = await settle(doc, clock, async () => {
    const status = await dns.changeStatus(changeId);
    return { done: status === 'INSYNC', status };
  });
  const state = poll(doc, 'cname', clock, seen, 'the CNAME change to be in sync');
  if (!state.done) return state;
  // Downtime starts with the block (the security-group detach) when there was one, else the fence.
  const start = doc.block?.blockedAt ?? doc.fence?.fencedAt;
  return {
    ...state,
    inSyncAt: state.checkedAt,
    ...(start ? { downtimeMs: Date.parse(state.checkedAt) - Date.parse(start) } : {}),
  };
}
