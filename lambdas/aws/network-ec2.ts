import { DescribeSecurityGroupsCommand, type EC2Client, type IpPermission } from '@aws-sdk/client-ec2';
import { awsCall } from '../domain/aws-errors';
import type { IngressRule, Network, SecurityGroupInfo } from '../ports';

/** The `Network` port on EC2: what Preflight needs to know of the security groups it relies on. */
export class Ec2Network implements Network {
  constructor(private readonly ec2: EC2Client) {}

  async describeSecurityGroups(ids: string[]): Promise<SecurityGroupInfo[]> {
    if (ids.length === 0) return [];
    const groups: SecurityGroupInfo[] = [];
    let nextToken: string | undefined;
    do {
      // A `group-id` filter, not GroupIds: with GroupIds one missing group fails the whole call
      // (InvalidGroup.NotFound) and hides which of them exist.
      const output = await awsCall(`DescribeSecurityGroups ${ids.join(',')}`, () =>
        this.ec2.send(
          new DescribeSecurityGroupsCommand({
            Filters: [{ Name: 'group-id', Values: ids }],
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        ),
      );
      for (const group of output.SecurityGroups ?? []) {
        if (!group.GroupId) continue;
        groups.push({
          id: group.GroupId,
          ...(group.VpcId ? { vpcId: group.VpcId } : {}),
          ingress: (group.IpPermissions ?? []).map(toRule),
        });
      }
      nextToken = output.NextToken;
    } while (nextToken);
    return groups;
  }
}

function toRule(permission: IpPermission): IngressRule {
  return {
    protocol: permission.IpProtocol ?? '-1',
    ...(permission.FromPort !== undefined ? { fromPort: permission.FromPort } : {}),
    ...(permission.ToPort !== undefined ? { toPort: permission.ToPort } : {}),
    sourceGroupIds: (permission.UserIdGroupPairs ?? []).flatMap((pair) => (pair.GroupId ? [pair.GroupId] : [])),
    cidrs: [
      ...(permission.IpRanges ?? []).flatMap((r) => (r.CidrIp ? [r.CidrIp] : [])),
      ...(permission.Ipv6Ranges ?? []).flatMap((r) => (r.CidrIpv6 ? [r.CidrIpv6] : [])),
    ],
  };
}
