import { LookupEventsCommand, type CloudTrailClient, type Event } from '@aws-sdk/client-cloudtrail';
import type { ExecutionStarter, ExecutionStarters } from '../approval/identity';
import { mapAwsError } from '../domain/aws-errors';
import { RetryableAwsError } from '../domain/errors';

/**
 * `forbidSelfApproval` in AWS (docs/approval.md, "forbidSelfApproval: who started the run"): who
 * called `StartExecution`, from CloudTrail's event history (`LookupEvents`, EventName =
 * StartExecution, the event whose `responseElements.executionArn` is the execution). Never from the
 * execution's input, which its starter wrote.
 */

export interface CloudTrailExecutionStartersOptions {
  /**
   * How far back to look: an execution reaches its approval well within this.
   * @default 7 days
   */
  lookbackMs?: number;
  /**
   * Pages of 50 `StartExecution` events read per lookup, newest first. `LookupEvents` allows 2
   * calls a second per account and region, and the page must answer within the function's timeout.
   * @default 5
   */
  maxPages?: number;
  now?: () => Date;
}

const DEFAULT_LOOKBACK_MS = 7 * 24 * 3_600_000;
const DEFAULT_MAX_PAGES = 5;

interface UserIdentity {
  type?: string;
  arn?: string;
  userName?: string;
  principalId?: string;
}

interface StartExecutionRecord {
  eventName?: string;
  errorCode?: string;
  userIdentity?: UserIdentity;
  responseElements?: { executionArn?: string } | null;
}

/**
 * The names a person goes by in a CloudTrail `userIdentity`: for an assumed role (IAM Identity
 * Center included) the session name, usually the user name or email address; for a federated user
 * its name; for an IAM user the user name and the ARN; otherwise the ARN.
 */
export function starterFromUserIdentity(identity: UserIdentity): ExecutionStarter {
  const arn = identity.arn;
  const names: string[] = [];
  const session = arn ? /:assumed-role\/[^/]+\/(.+)$/.exec(arn)?.[1] : undefined;
  const federated = arn ? /:federated-user\/(.+)$/.exec(arn)?.[1] : undefined;
  if (identity.type === 'AssumedRole' && session) names.push(session);
  else if (identity.type === 'FederatedUser' && federated) names.push(federated);
  else {
    if (identity.userName) names.push(identity.userName);
    if (arn) names.push(arn);
  }
  return { ...(arn ? { arn } : {}), names };
}

function parse(event: Event): StartExecutionRecord | undefined {
  if (!event.CloudTrailEvent) return undefined;
  try {
    return JSON.parse(event.CloudTrailEvent) as StartExecutionRecord;
  } catch {
    return undefined;
  }
}

export class CloudTrailExecutionStarters implements ExecutionStarters {
  /** Who started an execution never changes: remembered for the container's life. */
  private readonly known = new Map<string, ExecutionStarter>();
  private readonly lookbackMs: number;
  private readonly maxPages: number;
  private readonly now: () => Date;

  constructor(
    private readonly client: CloudTrailClient,
    options: CloudTrailExecutionStartersOptions = {},
  ) {
    this.lookbackMs = options.lookbackMs ?? DEFAULT_LOOKBACK_MS;
    this.maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * The starter, or `undefined` while it cannot be told: the event is not delivered yet (CloudTrail
   * takes minutes), it is older than the pages read, or CloudTrail throttles. The endpoint then
   * refuses the approval and asks to try again (fail closed). Other errors (a denied call) throw.
   */
  async startedBy(executionArn: string): Promise<ExecutionStarter | undefined> {
    const cached = this.known.get(executionArn);
    if (cached) return cached;
    const endTime = this.now();
    const startTime = new Date(endTime.getTime() - this.lookbackMs);
    let nextToken: string | undefined;
    for (let page = 0; page < this.maxPages; page += 1) {
      let answer;
      try {
        answer = await this.client.send(
          new LookupEventsCommand({
            LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'StartExecution' }],
            StartTime: startTime,
            EndTime: endTime,
            MaxResults: 50,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        );
      } catch (error) {
        const mapped = mapAwsError(error, 'CloudTrail LookupEvents');
        if (mapped instanceof RetryableAwsError) return undefined;
        throw mapped;
      }
      for (const event of answer.Events ?? []) {
        const record = parse(event);
        if (record?.errorCode || record?.responseElements?.executionArn !== executionArn) continue;
        const starter = starterFromUserIdentity(record.userIdentity ?? {});
        this.known.set(executionArn, starter);
        return starter;
      }
      nextToken = answer.NextToken;
      if (!nextToken) return undefined;
    }
    return undefined;
  }
}
