import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import { tracer } from '../aws/tracing';
import type { Clock } from '../ports';

export { traced } from '../aws/tracing';

/** One logger for every step Lambda. The event (the execution document) is never logged whole. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'aurora-bluegreen' });

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

interface WithExecution {
  input?: { executionName?: string; blueClusterId?: string };
}

/**
 * Wraps a step as a Lambda handler: middy with the Powertools context, a start and an end line.
 * Errors pass through untouched, so their `name` is what the state machine's ErrorEquals sees.
 */
export function stepHandler<E, R>(
  state: string,
  step: (event: E, context: { getRemainingTimeInMillis(): number }) => Promise<R>,
) {
  return middy<E, R>()
    .use(injectLambdaContext(logger, { logEvent: false }))
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .handler(async (event, context) => {
      const input = (event as WithExecution | undefined)?.input;
      logger.appendKeys({ state, execution: input?.executionName, blue: input?.blueClusterId });
      logger.info(`${state} started`);
      try {
        const result = await step(event, context);
        logger.info(`${state} finished`);
        return result;
      } catch (error) {
        logger.error(`${state} failed`, error as Error);
        throw error;
      }
    });
}
