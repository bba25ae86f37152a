import { userInfo } from 'node:os';
import type { ExecutionStarter, ExecutionStarters } from '../../lambdas/approval/identity';

/**
 * Who started each local execution: what CloudTrail's `StartExecution` record is in AWS, written
 * by the local executor as it starts a run (never taken from the run's input). The approval
 * endpoint's `forbidSelfApproval` reads it through the same `ExecutionStarters` port.
 */
export class LocalExecutionStarters implements ExecutionStarters {
  private readonly starters = new Map<string, ExecutionStarter>();

  /** Called by the executor when it starts `executionArn` for `name`. */
  recordStart(executionArn: string, name: string): void {
    this.starters.set(executionArn, { arn: `local-user/${name}`, names: [name] });
  }

  async startedBy(executionArn: string): Promise<ExecutionStarter | undefined> {
    const starter = this.starters.get(executionArn);
    return starter ? { ...starter, names: [...starter.names] } : undefined;
  }
}

/** The identity a local run is started by when none is given: the operating system's user. */
export function localStarterName(): string {
  return userInfo().username;
}
