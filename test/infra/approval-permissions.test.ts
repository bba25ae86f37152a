import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { exampleConfigInput, synthStack } from './fixture';

/**
 * Resource policies of the stack judged by the IAM policy simulator (`@cloud-copilot/iam-simulate`,
 * AWS's authorization data), not by reading the JSON: who may change a migration set.
 */

const UPLOADER = 'arn:aws:iam::123456789012:role/release-pipeline';
const ADMIN = 'arn:aws:iam::123456789012:role/Admin';

type Json = unknown;

/** Resolves the few intrinsics a resource policy uses here, with concrete names for each resource. */
function resolve(value: Json, names: Record<string, string>): Json {
  if (Array.isArray(value)) return value.map((v) => resolve(v, names));
  if (typeof value !== 'object' || value === null) return value;
  const object = value as Record<string, Json>;
  if ('Ref' in object) return object.Ref === 'AWS::Partition' ? 'aws' : names[String(object.Ref)];
  if ('Fn::GetAtt' in object) {
    const [id] = object['Fn::GetAtt'] as [string, string];
    return names[id];
  }
  if ('Fn::Join' in object) {
    const [sep, parts] = object['Fn::Join'] as [string, Json[]];
    return parts.map((p) => resolve(p, names)).join(sep);
  }
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, resolve(v, names)]));
}

async function decide(
  principal: string,
  action: string,
  resource: string,
  resourcePolicy: Json,
  identityActions: string[],
): Promise<string> {
  const simulation: Simulation = {
    request: {
      principal,
      action,
      resource: { resource, accountId: '123456789012' },
      contextVariables: { 'aws:PrincipalArn': principal },
    },
    identityPolicies: [
      {
        name: 'broad',
        policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: identityActions, Resource: '*' }] },
      },
    ],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: resourcePolicy as Simulation['resourcePolicy'],
  };
  const response = await runSimulation(simulation, {});
  if (response.resultType === 'error') throw new Error(JSON.stringify(response.errors));
  return response.overallResult;
}

describe('the migrations bucket policy', () => {
  function bucketPolicy(uploaders?: string[]) {
    const input = exampleConfigInput();
    if (uploaders) input.migrationUploaderArns = uploaders;
    const { stack } = synthStack(input);
    const template = Template.fromStack(stack as Stack);
    const buckets = template.findResources('AWS::S3::Bucket');
    const names = Object.fromEntries(Object.keys(buckets).map((id) => [id, `arn:aws:s3:::${id.toLowerCase()}`]));
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy')) as {
      Properties: { Bucket: { Ref: string }; PolicyDocument: Json };
    }[];
    const migrationsId = Object.keys(buckets).find((id) => id.includes('MigrationsBucket'))!;
    const policy = policies.find((p) => p.Properties.Bucket.Ref === migrationsId)!;
    return {
      policy: resolve(policy.Properties.PolicyDocument, names),
      objects: `${names[migrationsId]}/release-7/001_a.sql`,
    };
  }

  it('lets only the configured uploaders put, overwrite or delete a migration file', async () => {
    const { policy, objects } = bucketPolicy([UPLOADER]);
    for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion']) {
      await expect(decide(UPLOADER, action, objects, policy, ['s3:*'])).resolves.toBe('Allowed');
      await expect(decide(ADMIN, action, objects, policy, ['*'])).resolves.toBe('ExplicitlyDenied');
    }
    // Reading is for whoever IAM allows (the workflow's Lambdas, reviewers).
    await expect(decide(ADMIN, 's3:GetObject', objects, policy, ['*'])).resolves.toBe('Allowed');
  });

  it('without configured uploaders, IAM alone decides (and the policy still requires TLS)', async () => {
    const { policy, objects } = bucketPolicy();
    await expect(decide(ADMIN, 's3:PutObject', objects, policy, ['*'])).resolves.toBe('Allowed');
    expect(JSON.stringify(policy)).not.toContain('OnlyConfiguredUploaders');
  });
});

describe("the approvers' topic", () => {
  const ACCOUNT = '123456789012';
  const DEPLOYMENT = `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-eu-west-1`;
  const TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT}:approvers`;

  function topics() {
    const { stack } = synthStack(exampleConfigInput());
    const template = Template.fromStack(stack as Stack);
    const topicIds = Object.keys(template.findResources('AWS::SNS::Topic'));
    const approversId = topicIds.find((id) => id.includes('ApproversTopic'))!;
    const names: Record<string, string> = {
      'AWS::AccountId': ACCOUNT,
      'AWS::Region': 'eu-west-1',
      ...Object.fromEntries(
        topicIds.map((id) => [id, id === approversId ? TOPIC : `arn:aws:sns:eu-west-1:${ACCOUNT}:${id}`]),
      ),
    };
    const policies = Object.values(template.findResources('AWS::SNS::TopicPolicy')) as {
      Properties: { Topics: { Ref: string }[]; PolicyDocument: Json };
    }[];
    const policy = policies.find((p) => p.Properties.Topics.some((t) => t.Ref === approversId));
    return { template, approversId, policy: policy && resolve(policy.Properties.PolicyDocument, names) };
  }

  it('denies sns:Subscribe to everyone in the account but the stack’s deployment, whatever IAM allows', async () => {
    const { policy } = topics();
    expect(policy).toBeDefined();
    await expect(decide(ADMIN, 'sns:Subscribe', TOPIC, policy, ['*'])).resolves.toBe('ExplicitlyDenied');
    await expect(
      decide(`arn:aws:iam::${ACCOUNT}:role/ReadOnly`, 'sns:Subscribe', TOPIC, policy, ['sns:*']),
    ).resolves.toBe('ExplicitlyDenied');
    await expect(decide(DEPLOYMENT, 'sns:Subscribe', TOPIC, policy, ['sns:*'])).resolves.toBe('Allowed');
    // Publishing is IAM's business: the RequestApproval function's grant.
    await expect(decide(ADMIN, 'sns:Publish', TOPIC, policy, ['sns:Publish'])).resolves.toBe('Allowed');
  });

  it('gets the approver emails and the approval function’s publish; the notification topic gets neither', () => {
    const { template, approversId } = topics();
    const approvalEmails = (exampleConfigInput().approvalEmails as string[] | undefined) ?? [];
    for (const email of approvalEmails) {
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: email,
        TopicArn: { Ref: approversId },
      });
    }
    const subscriptions = Object.values(template.findResources('AWS::SNS::Subscription')) as {
      Properties: { Endpoint: string; TopicArn: { Ref: string } };
    }[];
    for (const s of subscriptions.filter((s) => approvalEmails.includes(s.Properties.Endpoint))) {
      expect(s.Properties.TopicArn.Ref).toBe(approversId);
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ TOPIC_ARN: { Ref: approversId }, APPROVAL_BASE_URL: Match.anyValue() }),
      },
    });
  });

  it('lets Preflight list its subscriptions and read their attributes (AuthenticateOnUnsubscribe), and nothing else of SNS', () => {
    const { template, approversId } = topics();
    const preflightPolicies = Object.values(
      template.findResources('AWS::IAM::Policy', {
        Properties: { Roles: [{ Ref: Match.stringLikeRegexp('PreflightRole') }] },
      }),
    ) as {
      Properties: { PolicyDocument: { Statement: { Effect: string; Action: string | string[]; Resource: unknown }[] } };
    }[];
    expect(preflightPolicies.length).toBeGreaterThan(0);
    const snsGrants = preflightPolicies
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .flatMap((s) =>
        [s.Action]
          .flat()
          .filter((a) => a.startsWith('sns:'))
          .map((action) => ({ effect: s.Effect, action, resource: s.Resource })),
      );
    expect(snsGrants).toEqual(
      expect.arrayContaining([
        { effect: 'Allow', action: 'sns:ListSubscriptionsByTopic', resource: { Ref: approversId } },
        { effect: 'Allow', action: 'sns:GetSubscriptionAttributes', resource: { Ref: approversId } },
      ]),
    );
    expect(snsGrants).toHaveLength(2);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ APPROVERS_TOPIC_ARN: { Ref: approversId } }) },
    });
  });
});
