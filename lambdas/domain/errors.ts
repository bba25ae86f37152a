import { MAX_ERROR_MESSAGE_CHARS, truncate } from './truncate';

/**
 * Named errors. Each class's `name` is exactly the string that the state machine's
 * `ErrorEquals` matches (Lambda reports `error.name` as the error type).
 * Never rewrap one of these in a plain `Error`: that turns it into `Error` for Step Functions.
 */

abstract class WorkflowError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    // Bounded before the stack is captured: Lambda reports both in the Cause.
    super(truncate(message, MAX_ERROR_MESSAGE_CHARS), options);
  }
}

/** Bad input or a guard rail: raised before any side effect, so nothing needs rolling back. */
export class PreconditionFailed extends WorkflowError {
  override name = 'PreconditionFailed' as const;
}

/** A transient AWS or network condition (throttling, a busy cluster, a reset connection). Retried with backoff. */
export class RetryableAwsError extends WorkflowError {
  override name = 'RetryableAwsError' as const;
}

/** A poll loop ran out of polls before AWS reached the state we wait for. */
export class PollTimeout extends WorkflowError {
  override name = 'PollTimeout' as const;
}

/** A resource reached a state it cannot come back from (for example `failed`, `incompatible-parameters`). */
export class ResourceFailed extends WorkflowError {
  override name = 'ResourceFailed' as const;
}

/** The clone does not contain this execution's fence row: it may be missing writes. */
export class CloneMissingWrites extends WorkflowError {
  override name = 'CloneMissingWrites' as const;
}

/** A SQL migration failed; the message names the file, line, column and SQLSTATE. */
export class MigrationFailed extends WorkflowError {
  override name = 'MigrationFailed' as const;
}

/** The migration set is not what ValidateMigrations checked (a file changed, was added or removed). */
export class MigrationsChanged extends WorkflowError {
  override name = 'MigrationsChanged' as const;
}

/**
 * A migration would outlive the ApplySql Lambda (900 s): the server cancelled it at the
 * statement_timeout derived from the Lambda's remaining time. The message names the file.
 */
export class MigrationTimeout extends WorkflowError {
  override name = 'MigrationTimeout' as const;
}

/** A smoke test on green did not meet its expectation. */
export class SmokeTestFailed extends WorkflowError {
  override name = 'SmokeTestFailed' as const;
}

/** The approver rejected the cutover. */
export class ApprovalRejected extends WorkflowError {
  override name = 'ApprovalRejected' as const;
}

/** Sessions were still connected to blue after the fence's bounded wait. */
export class FenceIncomplete extends WorkflowError {
  override name = 'FenceIncomplete' as const;
}

/** RDS did not carry out green's engine upgrade: green is back on its old version. The message is RDS's reason. */
export class UpgradeFailed extends WorkflowError {
  override name = 'UpgradeFailed' as const;
}

/** Blue's user data changed after the fence row: green may lack those writes. */
export class WritesAfterFence extends WorkflowError {
  override name = 'WritesAfterFence' as const;
}

/**
 * Logical replication failed (online mode, failback): the apply on the subscriber stopped, DDL
 * was seen on the publisher, a slot could not be created or dropped. The message says which and
 * what to do.
 */
export class ReplicationFailed extends WorkflowError {
  override name = 'ReplicationFailed' as const;
}

export const ERROR_NAMES = {
  PreconditionFailed: 'PreconditionFailed',
  RetryableAwsError: 'RetryableAwsError',
  PollTimeout: 'PollTimeout',
  ResourceFailed: 'ResourceFailed',
  CloneMissingWrites: 'CloneMissingWrites',
  MigrationFailed: 'MigrationFailed',
  MigrationTimeout: 'MigrationTimeout',
  MigrationsChanged: 'MigrationsChanged',
  SmokeTestFailed: 'SmokeTestFailed',
  ApprovalRejected: 'ApprovalRejected',
  FenceIncomplete: 'FenceIncomplete',
  UpgradeFailed: 'UpgradeFailed',
  WritesAfterFence: 'WritesAfterFence',
  ReplicationFailed: 'ReplicationFailed',
} as const;

export type WorkflowErrorName = keyof typeof ERROR_NAMES;

const constructors: Record<WorkflowErrorName, new (message: string) => Error> = {
  PreconditionFailed,
  RetryableAwsError,
  PollTimeout,
  ResourceFailed,
  CloneMissingWrites,
  MigrationFailed,
  MigrationTimeout,
  MigrationsChanged,
  SmokeTestFailed,
  ApprovalRejected,
  FenceIncomplete,
  UpgradeFailed,
  WritesAfterFence,
  ReplicationFailed,
};

/** Builds one of the workflow's named errors from its name (used by fault injection in the rehearsal). */
export function workflowError(name: WorkflowErrorName, message: string): Error {
  return new constructors[name](message);
}

export function isWorkflowErrorName(name: string): name is WorkflowErrorName {
  return Object.hasOwn(ERROR_NAMES, name);
}
