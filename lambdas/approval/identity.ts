import type { DecidedBy, IdentityClaim } from './model';

/**
 * Optional approver identity (docs/approval.md, "Approver identity"): the deciding POST carries an
 * OpenID Connect ID token as `Authorization: Bearer …`. API Gateway's JWT authorizer verifies it
 * (issuer, audience, signature, expiry) before the function runs; the local server verifies it with
 * an injected `BearerVerifier`. What reaches the endpoint is only ever a verified token.
 */

/** A bearer token whose signature, issuer, audience and expiry have been verified. */
export interface VerifiedToken {
  /** The token's `iss`. */
  issuer: string;
  claims: Readonly<Record<string, unknown>>;
}

/** Who called `StartExecution` for an execution, as AWS recorded it (CloudTrail `userIdentity`). */
export interface ExecutionStarter {
  /** The caller's ARN, for the message and the log. */
  arn?: string;
  /**
   * The names a person goes by in that identity: an IAM user's name; an assumed role's session
   * name (for IAM Identity Center, the user name, usually the email address).
   */
  names: readonly string[];
}

export interface ExecutionStarters {
  /**
   * Who started the execution, or `undefined` while that cannot be told yet (CloudTrail delivers
   * events within minutes). Never derived from the execution's input, which its starter wrote.
   */
  startedBy(executionArn: string): Promise<ExecutionStarter | undefined>;
}

/** What the endpoint enforces when an approver identity is configured. */
export interface ApproverIdentityPolicy {
  /** The only issuer whose tokens decide. */
  issuer: string;
  /** The claim that names the approver. */
  claim: IdentityClaim;
  /** Refuse an approval by the identity that started the execution. Needs `starters`. */
  forbidSelfApproval: boolean;
  starters?: ExecutionStarters;
  /** What the page's script needs to sign the approver in; without it the page cannot sign in. */
  signIn?: SignInConfig;
}

/** The page's OpenID Connect client: authorization code with PKCE, a public client (no secret). */
export interface SignInConfig {
  issuer: string;
  clientId: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  /** @default 'openid email' */
  scope: string;
  claim: IdentityClaim;
}

export type DeciderResult =
  { decidedBy: DecidedBy } | { refused: 'no-token' | 'wrong-issuer' | 'no-claim'; message: string };

/** The approver named by a verified token, or why the token cannot decide. */
export function deciderOf(policy: ApproverIdentityPolicy, token: VerifiedToken | undefined): DeciderResult {
  if (!token) {
    return { refused: 'no-token', message: 'Deciding needs you to sign in. Nothing was decided.' };
  }
  if (token.issuer !== policy.issuer || token.claims.iss !== policy.issuer) {
    return { refused: 'wrong-issuer', message: `Sign in with ${policy.issuer}. Nothing was decided.` };
  }
  const value = token.claims[policy.claim];
  if (typeof value !== 'string' || !value.trim()) {
    return {
      refused: 'no-claim',
      message: `Your sign-in carries no "${policy.claim}" claim, which names approvers here. Nothing was decided.`,
    };
  }
  if (policy.claim === 'email' && token.claims.email_verified === false) {
    return { refused: 'no-claim', message: 'Your email address is not verified by the issuer. Nothing was decided.' };
  }
  return { decidedBy: { issuer: policy.issuer, claim: policy.claim, value: value.trim() } };
}

/**
 * Whether the approver is the identity that started the execution: the approver's claim equals
 * one of the starter's names, compared without case (IAM names and email addresses are
 * case-insensitive in practice). Whole names only, never a prefix.
 */
export function isStarter(decidedBy: DecidedBy, starter: ExecutionStarter): boolean {
  const approver = decidedBy.value.trim().toLowerCase();
  return starter.names.some((name) => name.trim().toLowerCase() === approver);
}

/** The configuration `<issuer>/.well-known/openid-configuration` publishes (what the page uses of it). */
export interface IssuerMetadata {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
}

export class IssuerDiscoveryFailed extends Error {
  override name = 'IssuerDiscoveryFailed';
}

function isLoopback(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

function endpoint(value: unknown, field: string, issuer: string): string {
  if (typeof value !== 'string') throw new IssuerDiscoveryFailed(`${issuer}: discovery has no ${field}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new IssuerDiscoveryFailed(`${issuer}: discovery's ${field} is not a URL`);
  }
  if (url.protocol !== 'https:' && !isLoopback(url)) {
    throw new IssuerDiscoveryFailed(`${issuer}: discovery's ${field} must be https`);
  }
  // The token endpoint is named in the page's Content-Security-Policy, where these would end the source.
  if (/[\s;,']/.test(url.origin + url.pathname)) {
    throw new IssuerDiscoveryFailed(`${issuer}: discovery's ${field} has a character a CSP source cannot hold`);
  }
  return url.href;
}

/**
 * OpenID Connect discovery (OpenID Connect Discovery 1.0, section 4): the `issuer` it returns must
 * be exactly the configured one, and every endpoint https (plain http only on the loopback, for the
 * rehearsal and tests).
 */
export async function discoverIssuer(issuer: string, fetchFn: typeof fetch = fetch): Promise<IssuerMetadata> {
  endpoint(issuer, 'issuer', issuer);
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const response = await fetchFn(url, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new IssuerDiscoveryFailed(`${url} answered ${response.status}`);
  const metadata = (await response.json()) as Record<string, unknown>;
  if (metadata.issuer !== issuer) {
    throw new IssuerDiscoveryFailed(`${url} names issuer ${String(metadata.issuer)}, not ${issuer}`);
  }
  return {
    issuer,
    authorizationEndpoint: endpoint(metadata.authorization_endpoint, 'authorization_endpoint', issuer),
    tokenEndpoint: endpoint(metadata.token_endpoint, 'token_endpoint', issuer),
    jwksUri: endpoint(metadata.jwks_uri, 'jwks_uri', issuer),
  };
}

/** The `/signed-in` path the issuer redirects back to (relative to the approval page: `../signed-in`). */
export const SIGNED_IN_PATH = 'signed-in';

/** The approver identity as the approval function's environment carries it (set by the construct). */
export interface IdentitySettings {
  issuer: string;
  clientId: string;
  claim: IdentityClaim;
  scope: string;
  forbidSelfApproval: boolean;
}

/**
 * `APPROVER_ISSUER`, `APPROVER_CLIENT_ID`, `APPROVER_CLAIM` (`email`|`sub`) and
 * `FORBID_SELF_APPROVAL` (`true`|`false`); `undefined` when no issuer is set. A half-set or
 * malformed configuration is an error naming the variable.
 */
export function identitySettings(env: Readonly<Record<string, string | undefined>>): IdentitySettings | undefined {
  const issuer = env.APPROVER_ISSUER?.trim();
  if (!issuer) return undefined;
  const clientId = env.APPROVER_CLIENT_ID?.trim();
  if (!clientId) throw new Error('APPROVER_CLIENT_ID is required when APPROVER_ISSUER is set');
  const claim = env.APPROVER_CLAIM?.trim() || 'email';
  if (claim !== 'email' && claim !== 'sub') throw new Error(`APPROVER_CLAIM must be email or sub, got "${claim}"`);
  const forbid = env.FORBID_SELF_APPROVAL?.trim() || 'false';
  if (forbid !== 'true' && forbid !== 'false') {
    throw new Error(`FORBID_SELF_APPROVAL must be true or false, got "${forbid}"`);
  }
  const scope = claim === 'email' ? 'openid email' : 'openid';
  return { issuer, clientId, claim, scope, forbidSelfApproval: forbid === 'true' };
}

/** The endpoint's policy, with the page's sign-in endpoints from the issuer's discovery document. */
export async function identityPolicy(
  settings: IdentitySettings,
  starters: ExecutionStarters | undefined,
  fetchFn: typeof fetch = fetch,
): Promise<ApproverIdentityPolicy> {
  const metadata = await discoverIssuer(settings.issuer, fetchFn);
  return {
    issuer: settings.issuer,
    claim: settings.claim,
    forbidSelfApproval: settings.forbidSelfApproval,
    ...(starters ? { starters } : {}),
    signIn: {
      issuer: settings.issuer,
      clientId: settings.clientId,
      authorizationEndpoint: metadata.authorizationEndpoint,
      tokenEndpoint: metadata.tokenEndpoint,
      scope: settings.scope,
      claim: settings.claim,
    },
  };
}
