import { PreconditionFailed, RetryableAwsError } from './errors';

/**
 * The one place where AWS error codes become the workflow's named errors. Every adapter calls
 * `mapAwsError` on whatever an SDK call threw; the rehearsal's fault injection raises SDK-shaped
 * errors through this same function, so a fault behaves locally as it would in AWS.
 */

/** Codes that mean "try again later": throttling, a cluster busy with another change, a network blip. */
export const RETRYABLE_AWS_CODES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'PriorRequestNotComplete',
  'InvalidDBClusterStateFault',
  'InvalidDBInstanceStateFault',
  'InvalidDBClusterSnapshotStateFault',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalServerError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ProvisionedThroughputExceededException',
  'TimeoutError',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNREFUSED',
]);

/** Codes that mean the request can never work as asked: a guard rail, reported in words. */
export const PRECONDITION_AWS_CODES: ReadonlyMap<string, string> = new Map([
  ['DBClusterAlreadyExistsFault', 'a cluster with that identifier already exists'],
  ['DBInstanceAlreadyExistsFault', 'an instance with that identifier already exists'],
  ['DBClusterSnapshotAlreadyExistsFault', 'a cluster snapshot with that identifier already exists'],
  ['DBClusterParameterGroupNotFound', 'the cluster parameter group does not exist'],
  ['DBClusterParameterGroupNotFoundFault', 'the cluster parameter group does not exist'],
  ['DBParameterGroupNotFound', 'the instance parameter group does not exist'],
  ['DBParameterGroupNotFoundFault', 'the instance parameter group does not exist'],
  ['InvalidParameterCombination', 'AWS rejected the combination of parameters'],
  ['InvalidParameterValue', 'AWS rejected a parameter value'],
  ['NoSuchHostedZone', 'the hosted zone does not exist'],
  ['InvalidChangeBatch', 'Route 53 rejected the record change'],
  ['AccessDenied', 'the workflow role is not allowed to do this'],
  ['AccessDeniedException', 'the workflow role is not allowed to do this'],
]);

interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

function codeOf(error: AwsLikeError): string {
  return error.name && error.name !== 'Error' ? error.name : (error.code ?? 'Error');
}

/**
 * Maps an error thrown by an AWS SDK v3 call (or a socket) to a workflow error.
 * Errors that are already the workflow's own pass through unchanged.
 */
export function mapAwsError(error: unknown, action: string): Error {
  if (!(error instanceof Error)) return new Error(`${action}: ${String(error)}`);
  const e = error as Error & AwsLikeError;
  const code = codeOf(e);
  if (e instanceof RetryableAwsError || e instanceof PreconditionFailed) return e;
  const retryable =
    RETRYABLE_AWS_CODES.has(code) ||
    Boolean(e.$retryable) ||
    (e.$metadata?.httpStatusCode !== undefined && e.$metadata.httpStatusCode >= 500);
  if (retryable) return new RetryableAwsError(`${action}: ${code}: ${e.message}`, { cause: e });
  const meaning = PRECONDITION_AWS_CODES.get(code);
  if (meaning) return new PreconditionFailed(`${action}: ${meaning} (${code}: ${e.message})`, { cause: e });
  return e;
}

/** Runs an AWS call and maps whatever it throws. */
export async function awsCall<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw mapAwsError(error, action);
  }
}

/** Builds an error shaped like the one the SDK v3 throws for `code` (used by the rehearsal's fault injection). */
export function sdkShapedError(code: string, message = `simulated ${code}`): Error {
  const error = new Error(message) as Error & AwsLikeError;
  error.name = code;
  error.$metadata = { httpStatusCode: 400 };
  return error;
}
