import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AuroraBlueGreenDeployment, type DatabaseEgressOptions } from '../../infra/aurora-blue-green-deployment';
import { TASK_LIST } from '../../lambdas/steps/catalog';
import { newStack, requiredProps, stubHandlersDir } from './fixture';

const handlersDir = stubHandlersDir();
const ADMIN = 'sg-0123456789abcdef0';
const ENDPOINTS = 'sg-0fedcba9876543210';
const S3_PREFIX_LIST = 'pl-6da54004';

type Egress = Record<string, unknown>;

function synth(egress: DatabaseEgressOptions | ((stack: ReturnType<typeof newStack>) => DatabaseEgressOptions)) {
  const stack = newStack();
  const deployment = new AuroraBlueGreenDeployment(stack, 'Deployment', {
    ...requiredProps(stack, handlersDir),
    databaseEgress: typeof egress === 'function' ? egress(stack) : egress,
  });
  return { template: Template.fromStack(stack), deployment, stack };
}

/** Every egress rule of `groupId`'s group: inline and separate resources alike. */
function egressRules(template: Template, groupId: string): Egress[] {
  const group = template.findResources('AWS::EC2::SecurityGroup')[groupId] as {
    Properties: { SecurityGroupEgress?: Egress[] };
  };
  const separate = Object.values(template.findResources('AWS::EC2::SecurityGroupEgress'))
    .map((r) => (r as { Properties: Egress }).Properties)
    .filter((p) => JSON.stringify(p['GroupId']).includes(groupId))
    .map(({ GroupId: _group, ...rule }) => rule);
  return [...(group.Properties.SecurityGroupEgress ?? []), ...separate];
}

describe('databaseEgress: the database Lambdas get a group of their own, with exact egress', () => {
  const { template, deployment, stack } = synth((s) => ({
    endpointSecurityGroups: [ec2.SecurityGroup.fromSecurityGroupId(s, 'Endpoints', ENDPOINTS, { mutable: false })],
    endpointPrefixListIds: [S3_PREFIX_LIST],
  }));
  const groups = template.findResources('AWS::EC2::SecurityGroup');
  const [groupId] = Object.keys(groups);

  it('creates one group, created with an egress rule that matches nothing (so EC2 adds no allow-all)', () => {
    expect(Object.keys(groups)).toHaveLength(1);
    const group = groups[groupId!] as { Properties: { SecurityGroupEgress?: Egress[] } };
    expect(group.Properties.SecurityGroupEgress).toEqual([
      {
        CidrIp: '255.255.255.255/32',
        Description: 'Disallow all traffic',
        IpProtocol: 'icmp',
        FromPort: 252,
        ToPort: 86,
      },
    ]);
    expect(stack.resolve(deployment.databaseSecurityGroup!.securityGroupId)).toEqual({
      'Fn::GetAtt': [groupId, 'GroupId'],
    });
  });

  it('allows exactly PostgreSQL to the admin group and HTTPS to the endpoints, and nothing else', () => {
    const rules = egressRules(template, groupId!).filter(
      // The placeholder that matches no traffic (ICMP type 252 to an address no host has).
      (r) => !(r['CidrIp'] === '255.255.255.255/32' && r['IpProtocol'] === 'icmp'),
    );
    const summary = rules
      .map((r) =>
        [
          r['IpProtocol'],
          r['FromPort'],
          r['ToPort'],
          r['DestinationSecurityGroupId'] ?? r['DestinationPrefixListId'] ?? r['CidrIp'] ?? r['CidrIpv6'],
        ].join(' '),
      )
      .sort();
    expect(summary).toEqual(
      [`tcp 443 443 ${ENDPOINTS}`, `tcp 443 443 ${S3_PREFIX_LIST}`, `tcp 5432 5432 ${ADMIN}`].sort(),
    );
  });

  it('has no allow-all egress anywhere in the template', () => {
    const everyRule = [
      ...Object.values(groups).flatMap(
        (g) => (g as { Properties: { SecurityGroupEgress?: Egress[] } }).Properties.SecurityGroupEgress ?? [],
      ),
      ...Object.values(template.findResources('AWS::EC2::SecurityGroupEgress')).map(
        (r) => (r as { Properties: Egress }).Properties,
      ),
    ];
    expect(everyRule.length).toBeGreaterThan(0);
    for (const rule of everyRule) {
      expect(rule['CidrIp']).not.toBe('0.0.0.0/0');
      expect(rule['CidrIpv6']).not.toBe('::/0');
      expect(rule['IpProtocol']).not.toBe('-1');
    }
  });

  it('puts every database Lambda, and only those, in that group', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as {
      Properties: { Description?: string; VpcConfig?: { SecurityGroupIds: unknown[] } };
    }[];
    const inVpc = functions.filter((f) => f.Properties.VpcConfig);
    const databaseStates = TASK_LIST.filter((t) => t.kind === 'database').map((t) => `Aurora blue/green: ${t.state}`);
    expect(inVpc.map((f) => f.Properties.Description).sort()).toEqual(databaseStates.sort());
    for (const fn of inVpc) {
      expect(fn.Properties.VpcConfig!.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [groupId, 'GroupId'] }]);
    }
  });
});

describe('databaseEgress validation', () => {
  it('uses the configured database port', () => {
    const { template } = synth({ endpointPrefixListIds: [S3_PREFIX_LIST], databasePort: 6432 });
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      IpProtocol: 'tcp',
      FromPort: 6432,
      ToPort: 6432,
      DestinationSecurityGroupId: ADMIN,
    });
  });

  it('refuses a group that could reach no endpoint, a bad prefix list id and a bad port, naming each field', () => {
    expect(() => synth({})).toThrow(/databaseEgress: give endpointSecurityGroups or endpointPrefixListIds/);
    expect(() => synth({ endpointPrefixListIds: ['s3'] })).toThrow(
      /databaseEgress\.endpointPrefixListIds: "s3" is not a prefix list id/,
    );
    expect(() => synth({ endpointPrefixListIds: [S3_PREFIX_LIST], databasePort: 80 })).toThrow(
      /databaseEgress\.databasePort: 80 is not a port Aurora accepts/,
    );
  });
});
