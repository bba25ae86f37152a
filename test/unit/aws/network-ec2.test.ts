import { DescribeSecurityGroupsCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { Ec2Network } from '../../../lambdas/aws/network-ec2';
import { RetryableAwsError } from '../../../lambdas/domain/errors';

const ec2Mock = mockClient(EC2Client);
const network = new Ec2Network(new EC2Client({ region: 'eu-west-1' }));

beforeEach(() => {
  ec2Mock.reset();
});

describe('describeSecurityGroups', () => {
  it('filters by group id (a missing group is left out, not an error) and maps the inbound rules', async () => {
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [
        {
          GroupId: 'sg-admin',
          VpcId: 'vpc-1',
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, UserIdGroupPairs: [{ GroupId: 'sg-admin' }] },
            { IpProtocol: '-1', IpRanges: [{ CidrIp: '10.0.0.0/16' }], Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
          ],
        },
      ],
    });
    await expect(network.describeSecurityGroups(['sg-admin', 'sg-gone'])).resolves.toEqual([
      {
        id: 'sg-admin',
        vpcId: 'vpc-1',
        ingress: [
          { protocol: 'tcp', fromPort: 5432, toPort: 5432, sourceGroupIds: ['sg-admin'], cidrs: [] },
          { protocol: '-1', sourceGroupIds: [], cidrs: ['10.0.0.0/16', '::/0'] },
        ],
      },
    ]);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSecurityGroupsCommand, {
      Filters: [{ Name: 'group-id', Values: ['sg-admin', 'sg-gone'] }],
    });
    expect(ec2Mock.commandCalls(DescribeSecurityGroupsCommand)[0]?.args[0].input.GroupIds).toBeUndefined();
  });

  it('follows NextToken', async () => {
    ec2Mock
      .on(DescribeSecurityGroupsCommand)
      .resolvesOnce({ SecurityGroups: [{ GroupId: 'sg-a' }], NextToken: 't' })
      .resolvesOnce({ SecurityGroups: [{ GroupId: 'sg-b' }] });
    await expect(network.describeSecurityGroups(['sg-a', 'sg-b'])).resolves.toMatchObject([
      { id: 'sg-a' },
      { id: 'sg-b' },
    ]);
    expect(ec2Mock.commandCalls(DescribeSecurityGroupsCommand)[1]?.args[0].input.NextToken).toBe('t');
  });

  it('asks nothing for no groups', async () => {
    await expect(network.describeSecurityGroups([])).resolves.toEqual([]);
    expect(ec2Mock.commandCalls(DescribeSecurityGroupsCommand)).toHaveLength(0);
  });

  it('maps throttling to the retryable error', async () => {
    ec2Mock.on(DescribeSecurityGroupsCommand).rejects(
      new EC2ServiceException({
        name: 'RequestLimitExceeded',
        $fault: 'client',
        $metadata: {},
        message: 'slow down',
      }),
    );
    await expect(network.describeSecurityGroups(['sg-a'])).rejects.toBeInstanceOf(RetryableAwsError);
  });
});
