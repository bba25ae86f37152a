import { randomBytes } from 'node:crypto';
import type { ApprovalOutput, DeliveryResult, TaskDecisions } from '../../lambdas/approval/model';

/** A task that failed with an error name chosen by whoever decided it (SendTaskFailure). */
export class TaskFailure extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/**
 * The local stand-in for Step Functions' task tokens: a waitForTaskToken state gets a promise
 * that SendTaskSuccess / SendTaskFailure settle. The approval page's TaskDecisions port is this.
 */
export class LocalTaskTokens implements TaskDecisions {
  private readonly waiting = new Map<string, { resolve: (output: unknown) => void; reject: (error: Error) => void }>();

  /** A fresh opaque token, like the one in `$$.Task.Token`. */
  newToken(): string {
    return `local-${randomBytes(32).toString('base64url')}`;
  }

  wait(token: string): Promise<unknown> {
    return new Promise((resolve, reject) => this.waiting.set(token, { resolve, reject }));
  }

  async sendSuccess(taskToken: string, output: ApprovalOutput): Promise<DeliveryResult> {
    const waiter = this.waiting.get(taskToken);
    if (!waiter) return 'task-gone';
    this.waiting.delete(taskToken);
    waiter.resolve(output);
    return 'delivered';
  }

  async sendFailure(taskToken: string, error: string, cause: string): Promise<DeliveryResult> {
    const waiter = this.waiting.get(taskToken);
    if (!waiter) return 'task-gone';
    this.waiting.delete(taskToken);
    waiter.reject(new TaskFailure(error, cause));
    return 'delivered';
  }

  /** Forgets a token whose task ended otherwise (timeout): a late decision then finds the task gone. */
  forget(token: string): void {
    this.waiting.delete(token);
  }
}
