import type { ExecutionDocument } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import type { Ports } from '../ports';
import { requestApproval, storeAndMail, type DecisionEvidence, type RequestApprovalEvent } from './request-approval';

/**
 * `RetainBlueForFailback` (docs/failback.md): with `input.failback`, blue's retention is a
 * `waitForTaskToken` task whose timeout is `blueRetentionSeconds`. Like RequestApproval it stores
 * the task token under a random id and emails one link; the page offers "Fail back to blue" (a GET
 * shows, a POST with the nonce decides, once). A decision ends the task with
 * `{ decision: 'failback' }`; the timeout (States.Timeout) means keep green and delete blue.
 *
 * It runs in the approval Lambda (the same function as RequestApproval): the payload's `kind`
 * says which of the two it is.
 */

export interface OfferFailbackEvent extends RequestApprovalEvent {
  kind: 'failback';
}

/** What the failback page shows. Plain data (stored as JSON); `kind` tells the page which page it is. */
export interface FailbackEvidence extends DecisionEvidence {
  kind: 'failback';
  /** When the CNAME reached green (Route 53 in sync). */
  cutoverAt?: string;
  /** The databases whose changes on green blue receives. */
  replicatedDatabases: string[];
  /** Tables the migrations added on green: blue has no such table, so their rows stay on green only. */
  notFollowed: string[];
  onFailback: string[];
  onTimeout: string[];
}

export function buildFailbackEvidence(doc: ExecutionDocument, now: Date, expiresAt: string): FailbackEvidence {
  const input = doc.input;
  const blue = doc.blue;
  if (!blue) throw new PreconditionFailed('RetainBlueForFailback needs $.blue: the document has no record of blue');
  if (!doc.cutover) throw new PreconditionFailed('RetainBlueForFailback ran before the cutover (no $.cutover)');
  const greenVersion = doc.upgrade?.requested ? doc.upgrade.to : blue.engineVersion;
  return {
    kind: 'failback',
    executionArn: input.executionId,
    executionName: input.executionName,
    requestedAt: now.toISOString(),
    expiresAt,
    blue: { clusterId: blue.id, endpoint: blue.endpoint, engineVersion: blue.engineVersion },
    green: { clusterId: input.greenClusterId, endpoint: doc.cutover.target, engineVersion: greenVersion },
    cname: { recordName: input.cname.recordName, hostedZoneId: input.cname.hostedZoneId },
    ...(doc.wait?.cname?.checkedAt ? { cutoverAt: doc.wait.cname.checkedAt } : {}),
    replicatedDatabases: doc.failbackReplication?.databases ?? [],
    notFollowed: doc.failbackReplication?.notFollowed ?? [],
    onFailback: [
      `Green (${input.greenClusterId}) is fenced as blue was: new sessions are read-only and every session is ended.`,
      `The workflow waits until blue (${blue.id}) has every write green committed, moves blue's sequences past green's, and stops the replication from green to blue.`,
      `Blue gets its write permission and its security groups back, and ${input.cname.recordName} points at blue again. Writes are blocked from the fence on green until then.`,
      `Green is kept, read-only, for you to inspect; delete it yourself when done.`,
    ],
    onTimeout: [
      `If nobody fails back before ${expiresAt}, green is kept: the replication to blue is removed and blue is deleted with a final snapshot.`,
    ],
  };
}

/** The plain-text email: the cutover succeeded, and blue can take over again until the retention ends. */
export function failbackEmail(evidence: FailbackEvidence, url: string): { subject: string; text: string } {
  const databases = evidence.replicatedDatabases.join(', ') || 'every database';
  const lines = [
    `The cutover of ${evidence.blue.clusterId} to ${evidence.green.clusterId} succeeded: applications reach green through ${evidence.cname.recordName}.`,
    '',
    `Blue is kept until ${evidence.expiresAt} and receives green's writes (${databases}) while it stays closed to applications.`,
    ...(evidence.notFollowed.length
      ? [
          `Not followed by blue (tables blue does not have; after a failback their rows are on green only): ${evidence.notFollowed.join(', ')}.`,
        ]
      : []),
    'Fail back to blue (the link opens a page; opening it decides nothing):',
    url,
    '',
    'IF YOU FAIL BACK',
    ...evidence.onFailback.map((l) => `- ${l}`),
    '',
    'IF NOBODY DOES',
    ...evidence.onTimeout.map((l) => `- ${l}`),
    '',
    `Execution: ${evidence.executionArn}`,
  ];
  return {
    subject: `Cutover of ${evidence.blue.clusterId} done: fail back to blue until ${evidence.expiresAt}?`,
    text: lines.join('\n'),
  };
}

export async function offerFailback(
  event: RequestApprovalEvent,
  ports: Pick<Ports, 'approvals' | 'notifier' | 'clock'>,
): Promise<{ requestedAt: string; expiresAt: string }> {
  return storeAndMail(
    event,
    'RetainBlueForFailback',
    event.document.input.blueRetentionSeconds,
    ports,
    (doc, now, expiresAt) => {
      const evidence = buildFailbackEvidence(doc, now, expiresAt);
      return { evidence, email: (url: string) => failbackEmail(evidence, url) };
    },
  );
}

/**
 * The approval Lambda's entry: the cutover approval, or (payload `kind: 'failback'`) the offer
 * to fail back during blue's retention.
 */
export function requestDecision(
  event: RequestApprovalEvent & { kind?: string },
  ports: Pick<Ports, 'approvals' | 'notifier' | 'clock'>,
): Promise<{ requestedAt: string; expiresAt: string }> {
  return event.kind === 'failback' ? offerFailback(event, ports) : requestApproval(event, ports);
}
