import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleApprovalHttp, MAX_BODY_BYTES } from '../lambdas/approval/http';
import {
  decidedFields,
  type ApprovalRecord,
  type ApprovalStore,
  type DecideResult,
  type DecisionRequest,
  type TaskDecisions,
} from '../lambdas/approval/model';
import type { ApproverIdentityPolicy, VerifiedToken } from '../lambdas/approval/identity';
import { approvalNonce, openTaskToken, sealTaskToken, sha256Hex } from '../lambdas/domain/approval-secrets';
import type { ApprovalRequestRecord, Approvals, Clock } from '../lambdas/ports';

/**
 * The approval endpoint on localhost for the rehearsal: the same `handleApprovalHttp` the Lambda
 * serves, over node:http on 127.0.0.1, with an in-memory store. The rehearsal supplies the
 * `TaskDecisions` that resolve its own waiting task.
 */

interface StoredApproval extends Omit<ApprovalRecord, 'approvalId' | 'nonce' | 'taskToken'> {
  nonceHash: string;
  sealedTaskToken?: string;
}

/**
 * An in-memory `ApprovalStore` with the same conditional semantics as the DynamoDB one, and the
 * same contents: the id and the nonce as SHA-256 only, the task token sealed and dropped at the decision.
 */
export class InMemoryApprovalStore implements ApprovalStore {
  private readonly items = new Map<string, StoredApproval>();

  put(record: ApprovalRequestRecord): void {
    const key = sha256Hex(record.approvalId);
    if (this.items.has(key)) throw new Error('an approval with this id already exists');
    const { approvalId, taskToken, ...rest } = record;
    this.items.set(
      key,
      structuredClone({
        ...rest,
        status: 'pending',
        nonceHash: sha256Hex(approvalNonce(approvalId)),
        sealedTaskToken: sealTaskToken(approvalId, taskToken),
      }),
    );
  }

  private view(approvalId: string, item: StoredApproval): ApprovalRecord {
    const { nonceHash: _n, sealedTaskToken, ...rest } = structuredClone(item);
    const taskToken = sealedTaskToken === undefined ? undefined : openTaskToken(approvalId, sealedTaskToken);
    return { ...rest, approvalId, nonce: approvalNonce(approvalId), ...(taskToken !== undefined ? { taskToken } : {}) };
  }

  async get(approvalId: string): Promise<ApprovalRecord | undefined> {
    const item = this.items.get(sha256Hex(approvalId));
    return item ? this.view(approvalId, item) : undefined;
  }

  async decide(approvalId: string, request: DecisionRequest): Promise<DecideResult> {
    const key = sha256Hex(approvalId);
    const item = this.items.get(key);
    if (
      !item ||
      item.status !== 'pending' ||
      item.nonceHash !== sha256Hex(request.nonce) ||
      item.expiresAt <= request.decidedAt
    ) {
      return { decided: false };
    }
    const taskToken = item.sealedTaskToken === undefined ? undefined : openTaskToken(approvalId, item.sealedTaskToken);
    if (taskToken === undefined) return { decided: false };
    const { sealedTaskToken: _dropped, ...kept } = item;
    const decided: StoredApproval = {
      ...kept,
      ...decidedFields(request),
    };
    this.items.set(key, decided);
    return { decided: true, record: this.view(approvalId, decided), taskToken };
  }

  async reopen(approvalId: string, decidedAt: string, taskToken: string): Promise<void> {
    const key = sha256Hex(approvalId);
    const item = this.items.get(key);
    if (!item || item.status === 'pending' || item.decidedAt !== decidedAt) return;
    const { decision: _d, decidedAt: _at, reason: _r, sourceIp: _ip, userAgent: _ua, decidedBy: _by, ...rest } = item;
    this.items.set(key, { ...rest, status: 'pending', sealedTaskToken: sealTaskToken(approvalId, taskToken) });
  }

  /** Every stored item as the table would hold it (for the rehearsal's report and tests). */
  all(): Array<StoredApproval & { idHash: string }> {
    return [...this.items.entries()].map(([idHash, item]) => ({ idHash, ...structuredClone(item) }));
  }
}

/** The `Approvals` port on the in-memory store; links point at the local server. */
export class LocalApprovals implements Approvals {
  constructor(
    private readonly records: InMemoryApprovalStore,
    private readonly baseUrl: () => string,
  ) {}

  async store(record: ApprovalRequestRecord): Promise<{ url: string }> {
    this.records.put(record);
    return { url: `${this.baseUrl().replace(/\/+$/, '')}/approvals/${encodeURIComponent(record.approvalId)}` };
  }
}

/**
 * Checks a bearer token like API Gateway's JWT authorizer: signature by the issuer's JWKS, issuer,
 * audience and expiry. Throws when any of them fails.
 */
export interface BearerVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

export interface ApprovalServerOptions {
  decisions: TaskDecisions;
  /**
   * Approvers sign in to decide (docs/approval.md, "Approver identity"): the policy the endpoint
   * enforces, and the verifier that plays API Gateway's JWT authorizer.
   */
  identity?: { policy: ApproverIdentityPolicy; verifier: BearerVerifier };
  store?: InMemoryApprovalStore;
  clock?: Pick<Clock, 'now'>;
  /** Default 0: any free port. */
  port?: number;
  /** Told about unexpected errors of the handler. */
  onError?: (error: unknown) => void;
}

export interface ApprovalServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  store: InMemoryApprovalStore;
  approvals: Approvals;
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      // Once past the limit, stop buffering (the body is already too large: the handler answers 413).
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      size += chunk.length;
    });
    request.on('end', () => resolve(chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined));
    request.on('error', reject);
  });
}

/** The bearer token's verified claims; none when absent or refused (the endpoint then answers 401). */
async function verifiedBearer(
  authorization: string | undefined,
  verifier: BearerVerifier | undefined,
): Promise<VerifiedToken | undefined> {
  const token = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(authorization ?? '')?.[1];
  if (!token || !verifier) return undefined;
  try {
    return await verifier.verify(token);
  } catch {
    return undefined;
  }
}

export async function startApprovalServer(options: ApprovalServerOptions): Promise<ApprovalServer> {
  const store = options.store ?? new InMemoryApprovalStore();
  const clock = options.clock ?? { now: () => new Date() };
  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        const body = await readBody(req);
        const headers: Record<string, string | undefined> = {};
        for (const [name, value] of Object.entries(req.headers)) {
          headers[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        const verified = await verifiedBearer(headers.authorization, options.identity?.verifier);
        const response = await handleApprovalHttp(
          {
            method: req.method ?? 'GET',
            path: new URL(req.url ?? '/', 'http://127.0.0.1').pathname,
            headers,
            ...(body !== undefined ? { body } : {}),
            ...(req.socket.remoteAddress ? { sourceIp: req.socket.remoteAddress } : {}),
            ...(verified ? { identity: verified } : {}),
          },
          {
            store,
            decisions: options.decisions,
            ...(options.onError ? { onError: options.onError } : {}),
            ...(options.identity ? { identity: options.identity.policy } : {}),
          },
          clock,
        );
        res.writeHead(response.statusCode, response.headers);
        res.end(response.body);
      } catch (error) {
        options.onError?.(error);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('Internal error');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    store,
    approvals: new LocalApprovals(store, () => url),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

export interface SubmittedDecision {
  /** The POST's status: 303 when the decision was taken. */
  status: number;
  /** The page the approver ends on (after following the redirect). */
  page: string;
}

function hiddenValue(form: string, name: string): string | undefined {
  const input = new RegExp(`<input[^>]*name="${name}"[^>]*>`).exec(form)?.[0];
  const value = input && /value="([^"]*)"/.exec(input)?.[1];
  return value === undefined ? undefined : decodeEntities(value);
}

function decodeEntities(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/**
 * Decides like a person: GETs the page, reads the nonce from the chosen form, and POSTs that
 * form (application/x-www-form-urlencoded) to the same URL. Used by `--auto-approve` / `--reject`,
 * and `failback` on the failback page (`--failback`).
 */
export async function submitDecision(
  url: string,
  decision: 'approve' | 'reject' | 'failback',
  reason?: string,
): Promise<SubmittedDecision> {
  const page = await fetch(url, { headers: { accept: 'text/html' } });
  const html = await page.text();
  if (page.status !== 200) return { status: page.status, page: html };
  const form = new RegExp(`<form[^>]*id="${decision}-form"[^>]*>([\\s\\S]*?)</form>`).exec(html)?.[1];
  if (!form) throw new Error(`the approval page at ${url} has no ${decision} form`);
  const fields = new URLSearchParams();
  for (const name of ['nonce', 'decision']) {
    const value = hiddenValue(form, name);
    if (value === undefined) throw new Error(`the ${decision} form has no ${name} field`);
    fields.set(name, value);
  }
  if (decision === 'approve' || decision === 'failback') {
    // Like a person: read blue's id from the page and type it.
    const blueId = /<code id="confirm-cluster-id">([^<]*)<\/code>/.exec(form)?.[1];
    if (blueId === undefined) throw new Error(`the ${decision} form does not show the cluster id to type`);
    fields.set('confirm', decodeEntities(blueId));
  }
  const why = reason ?? (decision === 'reject' ? 'rejected by the rehearsal (--reject)' : '');
  if (why) fields.set('reason', why);
  const posted = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'aurora-bluegreen-rehearsal' },
    body: fields.toString(),
    redirect: 'manual',
  });
  const postedBody = await posted.text();
  if (posted.status === 303) {
    const location = new URL(posted.headers.get('location') ?? '', url).toString();
    const after = await fetch(location);
    return { status: posted.status, page: await after.text() };
  }
  return { status: posted.status, page: postedBody };
}
