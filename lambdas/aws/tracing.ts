import { Tracer } from '@aws-lambda-powertools/tracer';

/** One tracer: each AWS SDK call is a subsegment of the Lambda's X-Ray trace. */
export const tracer = new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'aurora-bluegreen' });

/** An AWS SDK v3 client whose calls are traced (a no-op outside Lambda, e.g. in tests). */
export function traced<T>(client: T): T {
  return tracer.captureAWSv3Client(client);
}
