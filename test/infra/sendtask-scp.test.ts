import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';

/**
 * docs/approval.md tells operators how to limit `states:SendTask*` (the execution history shows the
 * task token to whoever may read it). Its SCP is judged here by the IAM policy simulator, with AWS's
 * authorization data: SendTask* has no resource type, so a statement that names the state machine
 * would never match and would limit nobody.
 */

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const DOCS = path.resolve(__dirname, '..', '..', 'docs', 'approval.md');

/** The JSON statement under "The execution history shows the task token", placeholders filled in. */
function documentedStatement(): unknown {
  const text = readFileSync(DOCS, 'utf8');
  const section = text.slice(text.indexOf('### The execution history shows the task token'));
  const block = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
  if (!block) throw new Error('docs/approval.md has no JSON statement for limiting states:SendTask*');
  return JSON.parse(block.replaceAll('REGION', REGION).replaceAll('ACCOUNT', ACCOUNT)) as unknown;
}

async function decide(principal: string, action: string): Promise<string> {
  const simulation: Simulation = {
    request: {
      principal,
      action,
      resource: { resource: '*', accountId: ACCOUNT },
      contextVariables: { 'aws:PrincipalArn': principal },
    },
    // AdministratorAccess, or AWSStepFunctionsFullAccess: the broad grants the docs warn about.
    identityPolicies: [
      {
        name: 'broad',
        policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
      },
    ],
    serviceControlPolicies: [
      {
        orgIdentifier: 'r-root',
        policies: [
          {
            name: 'FullAWSAccess',
            policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
          },
          { name: 'LimitSendTask', policy: { Version: '2012-10-17', Statement: [documentedStatement()] } },
        ],
      },
    ],
    resourceControlPolicies: [],
    resourcePolicy: undefined,
  };
  const response = await runSimulation(simulation, {});
  if (response.resultType === 'error') throw new Error(JSON.stringify(response.errors));
  return response.overallResult;
}

describe('the documented SCP that limits states:SendTask*', () => {
  const ACTIONS = ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'];

  it('denies a task decision to an administrator who is neither the approval API nor the emergency role', async () => {
    for (const action of ACTIONS) {
      await expect(decide(`arn:aws:iam::${ACCOUNT}:role/Admin`, action)).resolves.toBe('ExplicitlyDenied');
    }
  });

  it('still lets the approval API and the emergency approver role decide', async () => {
    for (const role of [
      `arn:aws:iam::${ACCOUNT}:role/AuroraBlueGreen-BlueGreenApprovalApiFunctionRole1A2B3C4D-AbCdEf123456`,
      `arn:aws:iam::${ACCOUNT}:role/bluegreen-emergency-approver`,
    ]) {
      for (const action of ['states:SendTaskSuccess', 'states:SendTaskFailure']) {
        await expect(decide(role, action)).resolves.toBe('Allowed');
      }
    }
  });
});
