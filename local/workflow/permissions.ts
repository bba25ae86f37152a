import { mapAwsError, sdkShapedError } from '../../lambdas/domain/aws-errors';
import type { Clusters, Ports } from '../../lambdas/ports';
import type { Need, TaskSpec } from '../../lambdas/steps/catalog';

/**
 * The ports a task's Lambda may use, as its IAM role allows: the construct grants each function
 * exactly the `needs` of its catalog entry, so locally a call outside them fails the way AWS
 * would (AccessDenied, through the shared error mapping). Without this, a step that calls what
 * its role does not allow would pass every local test and fail only in AWS.
 */

/** Every cluster method and the RDS permission it uses: a new method must be classified here. */
const CLUSTER_METHODS: Record<keyof Clusters, 'rds:read' | 'rds:write'> = {
  describeCluster: 'rds:read',
  describeInstance: 'rds:read',
  validUpgradeTargets: 'rds:read',
  parameterGroupFamilyOf: 'rds:read',
  clusterParameterGroupFamily: 'rds:read',
  instanceParameterGroupFamily: 'rds:read',
  describeClusterSnapshot: 'rds:read',
  clusterEvents: 'rds:read',
  cloneCopyOnWrite: 'rds:write',
  createInstance: 'rds:write',
  setSecurityGroups: 'rds:write',
  upgradeEngine: 'rds:write',
  setDeletionProtection: 'rds:write',
  deleteInstance: 'rds:write',
  deleteCluster: 'rds:write',
};

/** Which need each port (or, for clusters, each method) requires; undefined: any task may use it. */
function needOf(port: keyof Ports, method: string): Need | 'approval' | undefined {
  switch (port) {
    case 'clusters':
      // Unknown methods (none today: the Record is exhaustive) are treated as writes.
      return CLUSTER_METHODS[method as keyof Clusters] ?? 'rds:write';
    case 'dns':
      return 'route53';
    case 'network':
      return 'ec2:read';
    case 'database':
      return 'secret';
    case 'migrations':
      return 'migrations';
    case 'lock':
      return 'lock';
    case 'notifier':
      return 'topic';
    case 'executions':
      return 'executions';
    case 'approvals':
      return 'approval';
    case 'clock':
      return undefined;
  }
}

export function portsAllowedFor(spec: Pick<TaskSpec, 'state' | 'kind' | 'needs'>, ports: Ports): Ports {
  const allowed = (need: Need | 'approval' | undefined): boolean =>
    need === undefined || (need === 'approval' ? spec.kind === 'approval' : spec.needs.includes(need));
  const guard = <K extends keyof Ports>(port: K): Ports[K] =>
    new Proxy(ports[port], {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function' || typeof property !== 'string') return value;
        const need = needOf(port, property);
        if (allowed(need)) return (value as (...args: unknown[]) => unknown).bind(target);
        return () =>
          Promise.reject(
            mapAwsError(
              sdkShapedError(
                'AccessDenied',
                `${spec.state}'s role does not allow ${port}.${property} (its catalog entry lacks "${need}")`,
              ),
              `${port}.${property}`,
            ),
          );
      },
    });
  return {
    clusters: guard('clusters'),
    network: guard('network'),
    dns: guard('dns'),
    database: guard('database'),
    migrations: guard('migrations'),
    approvals: guard('approvals'),
    notifier: guard('notifier'),
    lock: guard('lock'),
    executions: guard('executions'),
    clock: ports.clock,
  };
}
