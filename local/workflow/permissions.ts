import { mapAwsError, sdkShapedError } from '../../lambdas/domain/aws-errors';
import type { Ports } from '../../lambdas/ports';
import type { TaskSpec } from '../../lambdas/steps/catalog';
import { taskMayCall } from '../../infra/iam-table';

/**
 * The ports a task's Lambda may use, as its IAM role allows: the construct grants each function
 * exactly the IAM rows (infra/iam-table.ts) of the port methods its catalog entry lists, so
 * locally a call of any other method fails the way AWS would (AccessDenied, through the shared
 * error mapping). Without this, a step that calls what its role does not allow would pass every
 * local test and fail only in AWS.
 */
export function portsAllowedFor(spec: Pick<TaskSpec, 'state' | 'calls'>, ports: Ports): Ports {
  const guard = <K extends Exclude<keyof Ports, 'clock'>>(port: K): Ports[K] =>
    new Proxy(ports[port], {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function' || typeof property !== 'string') return value;
        const method = `${port}.${property}`;
        if (taskMayCall(spec, method)) return (value as (...args: unknown[]) => unknown).bind(target);
        return () =>
          Promise.reject(
            mapAwsError(
              sdkShapedError(
                'AccessDenied',
                `${spec.state}'s role does not allow ${method} (its catalog entry does not list it)`,
              ),
              method,
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
    approvers: guard('approvers'),
    clock: ports.clock,
  };
}
