import { CloudTrailClient, LookupEventsCommand, type Event } from '@aws-sdk/client-cloudtrail';
import { mockClient } from 'aws-sdk-client-mock';
import { isStarter } from '../../../lambdas/approval/identity';
import {
  CloudTrailExecutionStarters,
  starterFromUserIdentity,
} from '../../../lambdas/aws/execution-starters-cloudtrail';
import { sdkShapedError } from '../../../lambdas/domain/aws-errors';

const cloudtrail = mockClient(CloudTrailClient);

beforeEach(() => {
  cloudtrail.reset();
});

const ACCOUNT = '123456789012';
const EXECUTION = `arn:aws:states:eu-west-1:${ACCOUNT}:execution:aurora-bluegreen:release-42`;
const OTHER = `arn:aws:states:eu-west-1:${ACCOUNT}:execution:aurora-bluegreen:release-41`;
const NOW = new Date('2026-12-04T08:00:00.000Z');
const SSO_ALICE = {
  type: 'AssumedRole',
  principalId: 'AROAEXAMPLE:alice@example.com',
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_DBA_0123456789abcdef/alice@example.com`,
  sessionContext: { sessionIssuer: { type: 'Role', userName: 'AWSReservedSSO_DBA_0123456789abcdef' } },
};

function startExecution(executionArn: string, userIdentity: object, extra: object = {}): Event {
  return {
    EventName: 'StartExecution',
    CloudTrailEvent: JSON.stringify({
      eventName: 'StartExecution',
      userIdentity,
      requestParameters: { stateMachineArn: 'arn:…', name: 'x', input: '{"startedBy":"bob@example.com"}' },
      responseElements: { executionArn, startDate: 'Dec 4, 2026, 7:40:00 AM' },
      ...extra,
    }),
  };
}

const starters = (options = {}) =>
  new CloudTrailExecutionStarters(new CloudTrailClient({ region: 'eu-west-1' }), { now: () => NOW, ...options });

describe('CloudTrailExecutionStarters', () => {
  it('finds the StartExecution event of the execution and names the SSO session, never the input', async () => {
    cloudtrail.on(LookupEventsCommand).resolves({ Events: [startExecution(EXECUTION, SSO_ALICE)] });

    const starter = await starters().startedBy(EXECUTION);

    expect(starter).toEqual({ arn: SSO_ALICE.arn, names: ['alice@example.com'] });
    expect(cloudtrail).toHaveReceivedCommandWith(LookupEventsCommand, {
      LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'StartExecution' }],
      EndTime: NOW,
      StartTime: new Date(NOW.getTime() - 7 * 24 * 3_600_000),
      MaxResults: 50,
    });
    expect(isStarter({ issuer: 'i', claim: 'email', value: 'Alice@Example.com' }, starter!)).toBe(true);
    expect(isStarter({ issuer: 'i', claim: 'email', value: 'bob@example.com' }, starter!)).toBe(false);
  });

  it('follows NextToken past other executions, and remembers what it found', async () => {
    cloudtrail
      .on(LookupEventsCommand)
      .resolvesOnce({ Events: [startExecution(OTHER, SSO_ALICE)], NextToken: 'page-2' })
      .resolvesOnce({
        Events: [
          startExecution(EXECUTION, { type: 'IAMUser', userName: 'carol', arn: `arn:aws:iam::${ACCOUNT}:user/carol` }),
        ],
      });
    const lookup = starters();

    const starter = await lookup.startedBy(EXECUTION);
    expect(starter).toEqual({
      arn: `arn:aws:iam::${ACCOUNT}:user/carol`,
      names: ['carol', `arn:aws:iam::${ACCOUNT}:user/carol`],
    });
    expect(cloudtrail).toHaveReceivedCommandTimes(LookupEventsCommand, 2);
    expect(cloudtrail.commandCalls(LookupEventsCommand)[1]!.args[0].input.NextToken).toBe('page-2');

    await expect(lookup.startedBy(EXECUTION)).resolves.toEqual(starter);
    expect(cloudtrail).toHaveReceivedCommandTimes(LookupEventsCommand, 2);
  });

  it('is unknown (undefined) while the event is not delivered yet', async () => {
    cloudtrail.on(LookupEventsCommand).resolves({ Events: [startExecution(OTHER, SSO_ALICE)] });
    await expect(starters().startedBy(EXECUTION)).resolves.toBeUndefined();
  });

  it('skips a failed StartExecution call and an unreadable record', async () => {
    cloudtrail.on(LookupEventsCommand).resolves({
      Events: [
        startExecution(EXECUTION, SSO_ALICE, { errorCode: 'ExecutionAlreadyExists', responseElements: null }),
        { EventName: 'StartExecution', CloudTrailEvent: '{not json' },
        { EventName: 'StartExecution' },
      ],
    });
    await expect(starters().startedBy(EXECUTION)).resolves.toBeUndefined();
  });

  it('reads at most maxPages pages, then says unknown', async () => {
    cloudtrail.on(LookupEventsCommand).resolves({ Events: [startExecution(OTHER, SSO_ALICE)], NextToken: 'more' });
    await expect(starters({ maxPages: 3 }).startedBy(EXECUTION)).resolves.toBeUndefined();
    expect(cloudtrail).toHaveReceivedCommandTimes(LookupEventsCommand, 3);
  });

  it('is unknown when CloudTrail throttles (LookupEvents allows 2 calls a second), so the approval waits', async () => {
    cloudtrail.on(LookupEventsCommand).rejects(sdkShapedError('ThrottlingException', 'Rate exceeded'));
    await expect(starters().startedBy(EXECUTION)).resolves.toBeUndefined();
  });

  it('throws a denied call, named, instead of guessing', async () => {
    cloudtrail.on(LookupEventsCommand).rejects(sdkShapedError('AccessDeniedException', 'not authorized'));
    await expect(starters().startedBy(EXECUTION)).rejects.toMatchObject({ name: 'PreconditionFailed' });
  });
});

describe('starterFromUserIdentity', () => {
  it.each([
    [SSO_ALICE, ['alice@example.com']],
    [
      { type: 'AssumedRole', arn: `arn:aws:sts::${ACCOUNT}:assumed-role/deployer/ci-pipeline-1234` },
      ['ci-pipeline-1234'],
    ],
    [{ type: 'FederatedUser', arn: `arn:aws:sts::${ACCOUNT}:federated-user/dave` }, ['dave']],
    [
      { type: 'IAMUser', userName: 'erin', arn: `arn:aws:iam::${ACCOUNT}:user/ops/erin` },
      ['erin', `arn:aws:iam::${ACCOUNT}:user/ops/erin`],
    ],
    [{ type: 'Root', arn: `arn:aws:iam::${ACCOUNT}:root` }, [`arn:aws:iam::${ACCOUNT}:root`]],
    [{ type: 'AWSService' }, []],
  ])('%j goes by %j', (identity, names) => {
    expect(starterFromUserIdentity(identity).names).toEqual(names);
  });
});
