import type { ExecutionDocument, GreenInfo, PollState } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { assertNotFailed, greenTags, greenWriterId, isOurs, poll, settle, requireBlue } from './common';

/**
 * CreateClone: Aurora fast cloning (copy-on-write) of blue, as blue is configured, reachable
 * only through the admin group. Describe first: a cluster with our execution tag is a re-run.
 */
export async function createClone(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<GreenInfo> {
  const blue = requireBlue(doc);
  const id = doc.input.greenClusterId;
  const base = { id, writerInstanceId: greenWriterId(id), requestedAt: clock.now().toISOString() };
  const existing = await clusters.describeCluster(id);
  if (existing) {
    if (!isOurs(existing.tags, doc)) {
      throw new PreconditionFailed(`Cluster ${id} already exists and was not created by this execution.`);
    }
    return { ...base, reused: true };
  }
  await clusters.cloneCopyOnWrite({
    sourceClusterId: blue.id,
    targetClusterId: id,
    ...(blue.subnetGroupName ? { subnetGroupName: blue.subnetGroupName } : {}),
    ...(blue.clusterParameterGroupName ? { clusterParameterGroupName: blue.clusterParameterGroupName } : {}),
    ...(blue.kmsKeyId ? { kmsKeyId: blue.kmsKeyId } : {}),
    iamAuth: blue.iamAuth,
    logExports: blue.logExports,
    securityGroupIds: [doc.input.adminSecurityGroupId],
    // Each of these has a restore default that is not "like the source" (see the adapter).
    port: blue.port,
    ...(blue.storageType ? { storageType: blue.storageType } : {}),
    ...(blue.serverlessV2Scaling ? { serverlessV2Scaling: blue.serverlessV2Scaling } : {}),
    ...(blue.engineLifecycleSupport ? { engineLifecycleSupport: blue.engineLifecycleSupport } : {}),
    copyTagsToSnapshot: blue.copyTagsToSnapshot ?? false,
    tags: greenTags(doc, blue.tags),
  });
  return { ...base, reused: false };
}

export async function checkClone(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState> {
  const id = doc.input.greenClusterId;
  const { green, ...seen } = await settle(doc, clock, async () => {
    const found = await clusters.describeCluster(id);
    const status = found?.status ?? 'not-visible-yet';
    assertNotFailed('Green cluster', id, status);
    return { done: status === 'available', status, green: found };
  });
  const state = poll(doc, 'clone', clock, seen, `the clone ${id} to become available`);
  return state.done && green ? { ...state, endpoint: green.endpoint } : state;
}
