import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../ports';
import {
  CONTENT_SECURITY_POLICY,
  contentSecurityPolicy,
  renderDecidedPage,
  renderExpiredPage,
  renderMessagePage,
  renderNotFoundPage,
  renderPendingPage,
  renderSignedInPage,
} from './html';
import { deciderOf, isStarter, SIGNED_IN_PATH, type ApproverIdentityPolicy, type VerifiedToken } from './identity';
import {
  APPROVAL_ID_PATTERN,
  APPROVAL_REJECTED,
  DeliveryOutcomeUnknown,
  MAX_REASON_LENGTH,
  type ApprovalOutput,
  type ApprovalRecord,
  type ApprovalStore,
  decisionKindOf,
  decisionsFor,
  type DecidedBy,
  type Decision,
  type DeliveryResult,
  type TaskDecisions,
} from './model';

/**
 * The approval endpoint, independent of API Gateway or node:http (docs/approval.md).
 * - GET shows the evidence and the forms; it never decides (mail scanners prefetch links).
 * - POST decides once, by a conditional update that also checks the per-approval nonce, then
 *   tells Step Functions through `TaskDecisions`. Used, expired and unknown ids get a clear page.
 */

export interface ApprovalHttpRequest {
  method: string;
  /** The request path, for example `/approvals/{id}` (a query string, if any, is ignored). */
  path: string;
  /** Header names in any case. */
  headers: Record<string, string | undefined>;
  /** The raw body, already base64-decoded. */
  body?: string;
  sourceIp?: string;
  /** The bearer token, once verified (API Gateway's JWT authorizer, or the local server's verifier). */
  identity?: VerifiedToken;
}

export interface ApprovalHttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface ApprovalHttpPorts {
  store: ApprovalStore;
  decisions: TaskDecisions;
  /** Told about unexpected errors (the caller logs them); the approver sees a 500 page. */
  onError?: (error: unknown) => void;
  /** When set, only a signed-in approver decides (docs/approval.md, "Approver identity"). */
  identity?: ApproverIdentityPolicy;
  /**
   * Told about each decision that stays recorded (the caller logs it): who, what, which
   * execution, and whether Step Functions took it. Not called when the decision is undone.
   */
  onDecision?: (decision: {
    executionArn: string;
    decision: Decision;
    decidedAt: string;
    decidedBy?: DecidedBy;
    delivery: DeliveryResult | 'outcome-unknown';
  }) => void;
}

export const MAX_BODY_BYTES = 16 * 1024;
const MAX_USER_AGENT = 512;

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-robots-tag': 'noindex, nofollow',
};

function html(statusCode: number, body: string, extra: Record<string, string> = {}): ApprovalHttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS, ...extra },
    body,
  };
}

function header(request: ApprovalHttpRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(request.headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/** The approval id from `/approvals/{id}`, wherever the API's stage puts that path. */
export function approvalIdFromPath(path: string): string | undefined {
  const clean = path.split(/[?#]/, 1)[0] ?? '';
  const match = /(?:^|\/)approvals\/([^/]+)\/?$/.exec(clean);
  return match?.[1];
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function isExpired(record: ApprovalRecord, now: Date): boolean {
  return now.getTime() >= Date.parse(record.expiresAt);
}

function pageFor(
  record: ApprovalRecord,
  now: Date,
  identity?: ApproverIdentityPolicy,
  note?: string,
): ApprovalHttpResponse {
  if (record.status !== 'pending') return html(410, renderDecidedPage(record, note));
  if (isExpired(record, now)) return html(410, renderExpiredPage(record));
  return html(200, renderPendingPage(record, identity?.signIn));
}

const forbidden = () =>
  html(
    403,
    renderMessagePage(
      'This form is not valid',
      'The form did not carry this approval’s security code, so nothing was decided. Open the link from the email again and use the buttons on that page.',
    ),
  );

interface ParsedForm {
  nonce?: string;
  decision?: string;
  reason?: string;
  /** Blue's cluster id, typed by the approver (approve only). */
  confirm?: string;
}

function parseForm(body: string): ParsedForm {
  const params = new URLSearchParams(body);
  const form: ParsedForm = {};
  const nonce = params.get('nonce');
  const decision = params.get('decision');
  const reason = params.get('reason');
  const confirm = params.get('confirm');
  if (confirm !== null) form.confirm = confirm.trim();
  if (nonce !== null) form.nonce = nonce;
  if (decision !== null) form.decision = decision;
  if (reason !== null) form.reason = reason.replace(/\r\n/g, '\n').trim();
  return form;
}

async function handlePost(
  id: string,
  request: ApprovalHttpRequest,
  ports: ApprovalHttpPorts,
  now: Date,
): Promise<ApprovalHttpResponse> {
  const { store, decisions } = ports;
  const contentType = (header(request, 'content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (contentType !== 'application/x-www-form-urlencoded') {
    return html(415, renderMessagePage('Unsupported form', 'Send the form from the approval page.'));
  }
  const body = request.body ?? '';
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) {
    return html(413, renderMessagePage('Form too large', 'The form was larger than any approval needs.'));
  }
  const form = parseForm(body);

  // Like API Gateway's JWT authorizer, which answers 401 before the function runs.
  let decidedBy: DecidedBy | undefined;
  if (ports.identity) {
    const who = deciderOf(ports.identity, request.identity);
    if ('refused' in who) {
      return html(who.refused === 'no-claim' ? 403 : 401, renderMessagePage('Sign in to decide', who.message));
    }
    decidedBy = who.decidedBy;
  }

  const record = await store.get(id);
  if (!record) return html(404, renderNotFoundPage());
  if (record.status !== 'pending' || isExpired(record, now)) return pageFor(record, now, ports.identity);
  if (!form.nonce || !sameSecret(form.nonce, record.nonce)) return forbidden();

  const kind = decisionKindOf(record.evidence);
  const allowed: readonly string[] = decisionsFor(kind);
  if (!form.decision || !allowed.includes(form.decision)) {
    return html(
      400,
      renderMessagePage(
        'No decision',
        kind === 'failback'
          ? 'Use the Fail back button on the failback page.'
          : 'Use the Approve or the Reject button on the approval page.',
      ),
    );
  }
  const decision = form.decision as Decision;
  const reason = form.reason ?? '';
  if (reason.length > MAX_REASON_LENGTH) {
    return html(400, renderMessagePage('Reason too long', `Keep the reason under ${MAX_REASON_LENGTH} characters.`));
  }
  const blueId = (record.evidence as { blue?: { clusterId?: unknown } }).blue?.clusterId;
  if (decision === 'approve' && (typeof blueId !== 'string' || form.confirm !== blueId)) {
    return html(
      400,
      renderMessagePage(
        'Type blue’s cluster id to approve',
        'Nothing was decided. Go back and type the id of the cluster being replaced, exactly as the page shows it, into the field above the Approve button.',
      ),
    );
  }
  if (decision === 'failback' && (typeof blueId !== 'string' || form.confirm !== blueId)) {
    return html(
      400,
      renderMessagePage(
        'Type blue’s cluster id to fail back',
        'Nothing was decided. Go back and type the id of the cluster to fail back to, exactly as the page shows it, into the field above the Fail back button.',
      ),
    );
  }
  if (decision === 'reject' && !reason) {
    return html(
      400,
      renderMessagePage('A reason is required', 'Go back and say why you reject: the failure notice shows it.'),
    );
  }

  if (decision === 'approve' && decidedBy && ports.identity?.forbidSelfApproval) {
    const refusal = await selfApprovalRefusal(ports.identity, decidedBy, record.executionArn);
    if (refusal) return refusal;
  }

  const decidedAt = now.toISOString();
  const userAgent = header(request, 'user-agent')?.slice(0, MAX_USER_AGENT);
  const result = await store.decide(id, {
    nonce: form.nonce,
    decision,
    ...(reason ? { reason } : {}),
    decidedAt,
    ...(request.sourceIp ? { sourceIp: request.sourceIp } : {}),
    ...(userAgent ? { userAgent } : {}),
    ...(decidedBy ? { decidedBy } : {}),
  });
  if (!result.decided) {
    // Someone else decided (or it expired) between our read and our write: show what is true now.
    const current = await store.get(id);
    return current ? pageFor(current, now, ports.identity) : html(404, renderNotFoundPage());
  }
  const told = (delivery: DeliveryResult | 'outcome-unknown') =>
    ports.onDecision?.({
      executionArn: record.executionArn,
      decision,
      decidedAt,
      ...(decidedBy ? { decidedBy } : {}),
      delivery,
    });

  const decided = result.record;
  let delivery: DeliveryResult;
  try {
    if (decision === 'approve' || decision === 'failback') {
      const output: ApprovalOutput = {
        decision,
        ...(reason ? { reason } : {}),
        decidedAt,
        ...(request.sourceIp ? { sourceIp: request.sourceIp } : {}),
        ...(userAgent ? { userAgent } : {}),
        ...(decidedBy ? { decidedBy } : {}),
      };
      delivery = await decisions.sendSuccess(result.taskToken, output);
    } else {
      const by = decidedBy ? ` (rejected by ${decidedBy.value})` : '';
      delivery = await decisions.sendFailure(result.taskToken, APPROVAL_REJECTED, `${reason}${by}`);
    }
  } catch (error) {
    if (error instanceof DeliveryOutcomeUnknown) {
      // Step Functions may have taken it: the decision stays recorded, and nobody may decide again.
      ports.onError?.(error);
      told('outcome-unknown');
      return html(
        502,
        renderDecidedPage(
          decided,
          'Outcome unknown: the decision was recorded, but Step Functions did not confirm it. Check the execution in the Step Functions console before doing anything else; this link will not decide again.',
        ),
      );
    }
    // The decision did not reach Step Functions: undo it so that the approver can try again.
    await store.reopen(id, decidedAt, result.taskToken);
    throw error;
  }
  told(delivery);
  if (delivery === 'task-gone') {
    return html(
      410,
      renderDecidedPage(
        decided,
        'The deployment was no longer waiting for a decision (it timed out or was stopped), so this decision changed nothing.',
      ),
    );
  }
  // Post/Redirect/Get: a reload shows the decided page and never re-posts the form.
  return html(303, renderDecidedPage(decided), { location: encodeURIComponent(id) });
}

/**
 * `forbidSelfApproval`: the approver may not be who started the execution. Who started it comes
 * from AWS's record of the `StartExecution` call, never from the input (its starter wrote that).
 * Until that record can be read, refuse: fail closed.
 */
async function selfApprovalRefusal(
  identity: ApproverIdentityPolicy,
  decidedBy: DecidedBy,
  executionArn: string,
): Promise<ApprovalHttpResponse | undefined> {
  const starter = identity.starters ? await identity.starters.startedBy(executionArn) : undefined;
  if (!starter) {
    return html(
      503,
      renderMessagePage(
        'Cannot verify who started this run yet',
        'Approvers may not approve a run they started, and who started this one is not on record yet (AWS records it within minutes). Nothing was decided. Try again in a few minutes.',
      ),
      { 'retry-after': '120' },
    );
  }
  if (isStarter(decidedBy, starter)) {
    return html(
      403,
      renderMessagePage(
        'You started this run',
        `${decidedBy.value} started this deployment, and may not approve it too. Nothing was decided. Ask another approver; you can still reject it.`,
      ),
    );
  }
  return undefined;
}

/**
 * The answer while the issuer's discovery document cannot be read (an approver identity is
 * configured, so nobody can sign in): nothing is shown that could decide.
 */
export function signInUnavailable(): ApprovalHttpResponse {
  return html(
    503,
    renderMessagePage(
      'Sign-in is unavailable',
      'The approval page could not read the sign-in service’s configuration, so nobody can sign in to decide right now. Nothing was decided. Try again in a few minutes; if it goes on, an operator can decide from the command line (docs/approval.md, "When the page cannot be reached").',
    ),
    { 'retry-after': '60' },
  );
}

export async function handleApprovalHttp(
  request: ApprovalHttpRequest,
  ports: ApprovalHttpPorts,
  clock: Pick<Clock, 'now'>,
): Promise<ApprovalHttpResponse> {
  const response = await route(request, ports, clock);
  const signIn = ports.identity?.signIn;
  if (!signIn) return response;
  return { ...response, headers: { ...response.headers, 'content-security-policy': contentSecurityPolicy(signIn) } };
}

function isSignedInPath(path: string): boolean {
  const clean = path.split(/[?#]/, 1)[0] ?? '';
  return new RegExp(`(?:^|/)${SIGNED_IN_PATH}/?$`).test(clean);
}

async function route(
  request: ApprovalHttpRequest,
  ports: ApprovalHttpPorts,
  clock: Pick<Clock, 'now'>,
): Promise<ApprovalHttpResponse> {
  const signIn = ports.identity?.signIn;
  if (signIn && isSignedInPath(request.path) && ['GET', 'HEAD'].includes(request.method.toUpperCase())) {
    return html(200, renderSignedInPage(signIn));
  }
  const id = approvalIdFromPath(request.path);
  if (!id || !APPROVAL_ID_PATTERN.test(id)) return html(404, renderNotFoundPage());
  const method = request.method.toUpperCase();
  try {
    if (method === 'GET' || method === 'HEAD') {
      const record = await ports.store.get(id);
      const response = record ? pageFor(record, clock.now(), ports.identity) : html(404, renderNotFoundPage());
      return method === 'HEAD' ? { ...response, body: '' } : response;
    }
    if (method === 'POST') return await handlePost(id, request, ports, clock.now());
    return html(405, renderMessagePage('Method not allowed', 'Open the link from the email.'), {
      allow: 'GET, HEAD, POST',
    });
  } catch (error) {
    ports.onError?.(error);
    return html(
      500,
      renderMessagePage(
        'Something went wrong',
        'Nothing was decided. Wait a minute and open the link from the email again.',
      ),
    );
  }
}
