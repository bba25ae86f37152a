import type { Cluster, IngressRule, Ports } from '../ports';

/**
 * The network half of Preflight: blue's security groups exist, and the admin group admits the
 * cluster's port from itself. The database Lambdas carry the admin group and reach blue through
 * it once the application groups are detached; without that rule the fence itself could not
 * connect, after blue's writes were already blocked.
 */
export async function networkProblems(
  blue: Cluster,
  adminSecurityGroupId: string,
  { network }: Pick<Ports, 'network'>,
): Promise<string[]> {
  const wanted = [...new Set([adminSecurityGroupId, ...blue.securityGroups.map((g) => g.id)])];
  const groups = await network.describeSecurityGroups(wanted);
  const found = new Map(groups.map((g) => [g.id, g]));
  const problems: string[] = [];
  const missing = wanted.filter((id) => !found.has(id));
  if (missing.length) {
    problems.push(
      `security groups ${missing.join(', ')} of blue cluster ${blue.id} do not exist (or are not visible to the workflow); the cutover would attach them to green`,
    );
  }
  const admin = found.get(adminSecurityGroupId);
  if (admin && !admin.ingress.some((rule) => admitsFromGroup(rule, blue.port, adminSecurityGroupId))) {
    problems.push(
      `admin security group ${adminSecurityGroupId} has no inbound rule for TCP port ${blue.port} from itself; add one (aws ec2 authorize-security-group-ingress --group-id ${adminSecurityGroupId} --protocol tcp --port ${blue.port} --source-group ${adminSecurityGroupId}), or the workflow cannot reach blue once the application groups are detached`,
    );
  }
  return problems;
}

/** Whether `rule` lets TCP traffic to `port` in from security group `groupId`. */
export function admitsFromGroup(rule: IngressRule, port: number, groupId: string): boolean {
  const everyProtocol = rule.protocol === '-1';
  const tcp = everyProtocol || rule.protocol === 'tcp' || rule.protocol === '6';
  const portCovered =
    everyProtocol ||
    (rule.fromPort !== undefined && rule.toPort !== undefined && rule.fromPort <= port && port <= rule.toPort);
  return tcp && portCovered && rule.sourceGroupIds.includes(groupId);
}
