import type { ApprovalRequestRecord } from '../ports';

/**
 * The approval endpoint's own ports. The endpoint is framework-agnostic: the Lambda handler wires
 * DynamoDB and Step Functions into it; the local rehearsal wires an in-memory store and its own
 * waiting task.
 */

export type ApprovalStatus = 'pending' | 'approved' | 'rejected';
/**
 * `approve` / `reject`: the cutover approval. `failback`: the offer to fail back to blue during its
 * retention (docs/failback.md); taking it records the offer as `approved`.
 */
export type Decision = 'approve' | 'reject' | 'failback';

/** What a stored request asks: the cutover approval, or the offer to fail back (`evidence.kind`). */
export type DecisionKind = 'cutover' | 'failback';

/** The kind of a stored request: the failback offer says so in its evidence; anything else is a cutover approval. */
export function decisionKindOf(evidence: Record<string, unknown>): DecisionKind {
  return evidence.kind === 'failback' ? 'failback' : 'cutover';
}

/** The decisions a request of this kind accepts. */
export function decisionsFor(kind: DecisionKind): readonly Decision[] {
  return kind === 'failback' ? ['failback'] : ['approve', 'reject'];
}

/** The status a decision leaves: only a reject is `rejected`. */
export function statusAfter(decision: Decision): Exclude<ApprovalStatus, 'pending'> {
  return decision === 'reject' ? 'rejected' : 'approved';
}

/**
 * A stored approval as the endpoint sees it, looked up by its id: the request as `RequestApproval`
 * stored it, plus the decision once made. The store keeps only hashes of `approvalId` and `nonce`
 * (the nonce is derived from the id), and `taskToken` only while the approval is pending.
 */
export interface ApprovalRecord extends Omit<ApprovalRequestRecord, 'taskToken'> {
  /** Present while pending; dropped from the store once decided. */
  taskToken?: string;
  nonce: string;
  status: ApprovalStatus;
  decision?: Decision;
  reason?: string;
  decidedAt?: string;
  sourceIp?: string;
  userAgent?: string;
  /** Who decided, when an approver identity is configured (docs/approval.md, "Approver identity"). */
  decidedBy?: DecidedBy;
}

/** The signed-in approver, as the issuer's verified token names them. */
export interface DecidedBy {
  /** The token's `iss`. */
  issuer: string;
  /** Which claim names the approver. */
  claim: IdentityClaim;
  /** That claim's value, for example `alice@example.com`. */
  value: string;
}

export type IdentityClaim = 'email' | 'sub';

export interface DecisionRequest {
  nonce: string;
  decision: Decision;
  reason?: string;
  decidedAt: string;
  sourceIp?: string;
  userAgent?: string;
  decidedBy?: DecidedBy;
}

/** What a decision adds to a stored approval, the same in DynamoDB and in the local store. */
export function decidedFields(
  request: DecisionRequest,
): Pick<ApprovalRecord, 'status' | 'decision' | 'decidedAt' | 'reason' | 'sourceIp' | 'userAgent' | 'decidedBy'> {
  return {
    status: statusAfter(request.decision),
    decision: request.decision,
    decidedAt: request.decidedAt,
    ...(request.reason !== undefined ? { reason: request.reason } : {}),
    ...(request.sourceIp !== undefined ? { sourceIp: request.sourceIp } : {}),
    ...(request.userAgent !== undefined ? { userAgent: request.userAgent } : {}),
    ...(request.decidedBy !== undefined ? { decidedBy: { ...request.decidedBy } } : {}),
  };
}

export type DecideResult =
  | { decided: true; record: ApprovalRecord; taskToken: string }
  /** The condition failed: not pending any more, expired, unknown, or the nonce did not match. */
  | { decided: false };

export interface ApprovalStore {
  get(approvalId: string): Promise<ApprovalRecord | undefined>;
  /**
   * Records the decision only when the approval is pending, not expired at `decidedAt` and
   * `nonce` matches, in one conditional write: two concurrent POSTs cannot both decide. The same
   * write drops the stored task token; the result hands it over once, for delivery.
   */
  decide(approvalId: string, request: DecisionRequest): Promise<DecideResult>;
  /**
   * Puts a decided approval back to pending when its decision could not reach Step Functions,
   * so that the approver can try again. Conditional on the decision still being `decidedAt`'s.
   * Stores `taskToken` again (it was dropped by `decide`).
   */
  reopen(approvalId: string, decidedAt: string, taskToken: string): Promise<void>;
}

/** What `$.approval` receives on approve (and `$.failbackDecision` on failback). */
export interface ApprovalOutput {
  decision: 'approve' | 'failback';
  reason?: string;
  decidedAt: string;
  sourceIp?: string;
  userAgent?: string;
  /** Who approved, when an approver identity is configured. */
  decidedBy?: DecidedBy;
}

/** `delivered`, or `task-gone` when the execution no longer waits (timed out, stopped, or already decided). */
export type DeliveryResult = 'delivered' | 'task-gone';

export interface TaskDecisions {
  sendSuccess(taskToken: string, output: ApprovalOutput): Promise<DeliveryResult>;
  sendFailure(taskToken: string, error: string, cause: string): Promise<DeliveryResult>;
}

/**
 * Step Functions may or may not have received a decision (a timeout, a dropped connection or a
 * server error after the request left). The endpoint then never reopens the approval: a second
 * decision could contradict the first one that did arrive.
 */
export class DeliveryOutcomeUnknown extends Error {
  override name = 'DeliveryOutcomeUnknown';
}

/** The error the state machine's Catch sees on reject. */
export const APPROVAL_REJECTED = 'ApprovalRejected';

/** Approval ids are base64url, 128 bits or more (22+ characters). Anything else is not looked up. */
export const APPROVAL_ID_PATTERN = /^[A-Za-z0-9_-]{22,86}$/;

export const MAX_REASON_LENGTH = 1000;
