import { Aspects, Stack, Validations, type IAspect } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

/** The actions a role's own policies grant on `Resource: *`, resolved. */
export function wildcardActions(role: iam.Role): string[] {
  const actions = new Set<string>();
  const policies = role.node
    .findAll()
    .filter((c): c is iam.Policy | iam.ManagedPolicy => c instanceof iam.Policy || c instanceof iam.ManagedPolicy);
  for (const policy of policies) {
    const doc = Stack.of(role).resolve(policy.document) as { Statement?: { Action?: unknown; Resource?: unknown }[] };
    for (const statement of doc.Statement ?? []) {
      const resources = ([] as unknown[]).concat(statement.Resource ?? []);
      if (!resources.includes('*')) continue;
      for (const action of ([] as unknown[]).concat(statement.Action ?? [])) actions.add(String(action));
    }
  }
  return [...actions].sort();
}

/**
 * Acknowledges `AwsSolutions-IAM5[Resource::*]` on `role` once the tree is complete (an aspect:
 * grants added later are seen too), only when every action it holds on `*` is one of `allowed`,
 * and names them in the reason. A wildcard on any other action stays a cdk-nag finding.
 */
export function acknowledgeWildcardsOnly(role: iam.Role, allowed: readonly string[], why: string): void {
  const allowedSet = new Set(allowed);
  const aspect: IAspect = {
    visit(node: IConstruct): void {
      if (node !== role) return;
      const actions = wildcardActions(role);
      if (actions.length === 0 || actions.some((a) => !allowedSet.has(a))) return;
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: `Resource "*" only for ${actions.join(', ')}: ${why}`,
      });
    },
  };
  Aspects.of(role).add(aspect);
}
