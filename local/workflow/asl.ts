import type { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AuroraBlueGreenDeployment } from '../../infra/aurora-blue-green-deployment';

/**
 * The one resolver from a synthesized template to runnable ASL. The definition in a template is
 * a `DefinitionString` (often an `Fn::Join` around function ARNs); here every intrinsic is
 * resolved to a stable local placeholder, so the JSON is the exact graph AWS would run.
 */

export interface AslDefinition {
  StartAt: string;
  States: Record<string, Record<string, unknown> & { Type: string }>;
  [key: string]: unknown;
}

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'local',
};

function resolveIntrinsic(value: unknown, resources: Record<string, { Type?: string }>): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if ('Ref' in obj) {
      const ref = String(obj.Ref);
      return PSEUDO[ref] ?? `local-${ref}`;
    }
    if ('Fn::GetAtt' in obj) {
      const [logicalId, attribute] = obj['Fn::GetAtt'] as [string, string];
      const type = resources[logicalId]?.Type;
      if (type === 'AWS::Lambda::Function' && attribute === 'Arn') {
        return `arn:aws:lambda:eu-west-1:123456789012:function:${logicalId}`;
      }
      return `local-${logicalId}-${attribute}`;
    }
    if ('Fn::Join' in obj) {
      const [separator, parts] = obj['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => resolveIntrinsic(p, resources)).join(separator);
    }
    if ('Fn::Sub' in obj) {
      const template = Array.isArray(obj['Fn::Sub'])
        ? String((obj['Fn::Sub'] as unknown[])[0])
        : String(obj['Fn::Sub']);
      return template.replace(/\$\{([^}]+)\}/g, (_m, name: string) => PSEUDO[name] ?? `local-${name}`);
    }
  }
  throw new Error(`Cannot resolve intrinsic in the state machine definition: ${JSON.stringify(value)}`);
}

/**
 * Extracts a state machine definition of a synthesized stack as ASL: the deployment's, or the
 * recovery's that EventBridge starts for a stopped execution.
 */
export function definitionFromStack(stack: Stack, which: 'deployment' | 'recovery' = 'deployment'): AslDefinition {
  const template = Template.fromStack(stack).toJSON() as {
    Resources: Record<string, { Type?: string; Properties?: Record<string, unknown> }>;
  };
  const constructs = stack.node.findAll().filter((c) => c instanceof AuroraBlueGreenDeployment);
  if (constructs.length !== 1)
    throw new Error(`Expected one deployment construct in the stack, found ${constructs.length}.`);
  const deployment = constructs[0] as AuroraBlueGreenDeployment;
  const machine = which === 'deployment' ? deployment.stateMachine : deployment.recoveryStateMachine;
  const logicalId = stack.getLogicalId(machine.node.defaultChild as CfnElement);
  const definitionString = template.Resources[logicalId]?.Properties?.DefinitionString;
  if (definitionString === undefined) throw new Error(`No definition for the ${which} state machine (${logicalId}).`);
  return JSON.parse(resolveIntrinsic(definitionString, template.Resources)) as AslDefinition;
}

/** The context that makes an in-process App find its assets and skip bundling it does not need. */
export const IN_PROCESS_CONTEXT: Record<string, unknown> = {
  'aws:cdk:enable-asset-metadata': true,
  'aws:cdk:bundling-stacks': [],
};

export type StackFactory = (app: App) => Stack;
