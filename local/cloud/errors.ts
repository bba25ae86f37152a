import { mapAwsError, sdkShapedError } from '../../lambdas/domain/aws-errors';

/**
 * Raises an error the way the AWS SDK v3 would (name = the AWS error code), passed through the
 * same shared mapping the AWS adapters use, so a local failure behaves as it would in AWS.
 */
export function awsFault(code: string, message: string, action: string): Error {
  return mapAwsError(sdkShapedError(code, message), action);
}
