import { createHash } from 'node:crypto';
import { truncateValue } from '../domain/truncate';
import type { ApprovalEvidence, RowCountEvidence, SmokeEvidence } from '../steps/request-approval';
import type { FailbackEvidence } from '../steps/offer-failback';
import { SIGNED_IN_PATH, type SignInConfig } from './identity';
import { decisionKindOf, MAX_REASON_LENGTH, type ApprovalRecord } from './model';

/**
 * The approval pages: plain HTML with one inline stylesheet (allowed by its hash in the CSP), no
 * external asset. No script, unless an approver identity is configured: then one inline script
 * (allowed by its hash) signs the approver in and posts the decision with the ID token. Every value
 * from the store is escaped. The task token is never an input of any function here.
 */

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
:root{color-scheme:light dark;--ok:#1a7f37;--bad:#cf222e;--muted:#6e7781}
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;max-width:46rem;margin-inline:auto}
h1{font-size:1.4rem;line-height:1.3;margin:.5rem 0 1rem}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #8884;overflow-wrap:anywhere}
th{width:35%;font-weight:600}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
.pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:600}
.muted{color:var(--muted)}
.notice{padding:.75rem 1rem;border-radius:.5rem;border:1px solid #8886;margin:1rem 0}
.decide{display:grid;gap:1rem;margin:1.5rem 0}
form{border:1px solid #8886;border-radius:.5rem;padding:1rem;margin:0}
label{display:block;font-weight:600;margin-bottom:.25rem}
textarea,input{width:100%;font:inherit;padding:.5rem;margin-bottom:.5rem}textarea{min-height:5rem}
button{font:inherit;font-weight:600;width:100%;padding:.8rem 1rem;margin-top:.75rem;border:0;border-radius:.5rem;color:#fff;cursor:pointer}
.approve{background:var(--ok)}.reject{background:var(--bad)}
ul{padding-left:1.25rem}
@media (min-width:40rem){.decide{grid-template-columns:1fr 1fr}}
`.trim();

/** The CSP hash of the one inline stylesheet. */
export const STYLE_HASH = `sha256-${createHash('sha256').update(STYLE).digest('base64')}`;

/** The CSP of every page when no approver identity is configured: no script at all. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src '${STYLE_HASH}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/**
 * The page's OpenID Connect client (docs/approval.md, "Approver identity"). Authorization code with
 * PKCE (RFC 7636, S256), as a public client: the page holds no secret. What leaves for the issuer
 * is the client id, the fixed `redirect_uri` (`…/signed-in`), random `state` and `nonce` values
 * and the code challenge: never the approval id, its nonce or the task token. The approval page's
 * path (where to come back to), the PKCE verifier and the OIDC nonce wait in this tab's
 * sessionStorage under the random `state`. The ID token is kept there too (this tab only, gone
 * with it) and sent only to this page's own origin, as `Authorization: Bearer`.
 */
export const SIGN_IN_SCRIPT = `(() => {
'use strict';
const cfg = JSON.parse(document.getElementById('sign-in-config').textContent);
const TOKEN = 'bluegreen.approver';
const PENDING = 'bluegreen.sign-in.';
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/[+]/g, '-').replace(/[/]/g, '_').replace(/=+$/, '');
const random = () => b64url(crypto.getRandomValues(new Uint8Array(32)));
const claimsOf = (jwt) => JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))));
const say = (text) => { document.getElementById('sign-in-status').textContent = text; };
const signedIn = () => {
  try {
    const t = JSON.parse(sessionStorage.getItem(TOKEN) || 'null');
    return t && t.exp * 1000 > Date.now() + 30000 ? t : null;
  } catch (e) { return null; }
};
async function signIn() {
  const state = random(), verifier = random(), nonce = random();
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  sessionStorage.setItem(PENDING + state, JSON.stringify({ verifier, nonce, returnTo: location.pathname }));
  const url = new URL(cfg.authorizationEndpoint);
  const params = { response_type: 'code', client_id: cfg.clientId, redirect_uri: new URL('../${SIGNED_IN_PATH}', location.href).href, scope: cfg.scope, state, nonce, code_challenge: challenge, code_challenge_method: 'S256' };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  location.assign(url.href);
}
async function finish() {
  const params = new URLSearchParams(location.search);
  history.replaceState(null, '', location.pathname);
  const key = PENDING + (params.get('state') || '');
  const saved = sessionStorage.getItem(key);
  sessionStorage.removeItem(key);
  if (!saved) return say('This sign-in was not started in this browser tab. Open the link from the email again.');
  const { verifier, nonce, returnTo } = JSON.parse(saved);
  if (params.get('error') || !params.get('code')) return say('Sign-in failed (' + (params.get('error') || 'no code') + '). Nothing was decided. Open the link from the email again.');
  const response = await fetch(cfg.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code'), redirect_uri: location.origin + location.pathname, client_id: cfg.clientId, code_verifier: verifier }),
  });
  const body = response.ok ? await response.json() : {};
  const claims = typeof body.id_token === 'string' ? claimsOf(body.id_token) : {};
  if (claims.nonce !== nonce || claims.iss !== cfg.issuer) return say('The sign-in could not be completed. Nothing was decided. Open the link from the email again.');
  sessionStorage.setItem(TOKEN, JSON.stringify({ idToken: body.id_token, exp: claims.exp, name: String(claims[cfg.claim] || '') }));
  if (returnTo.startsWith('/') && !returnTo.startsWith('//')) location.replace(returnTo);
}
function decide() {
  const current = signedIn();
  say(current ? 'Signed in as ' + current.name + '.' : 'Deciding needs you to sign in with ' + cfg.issuer + ': Approve or Reject takes you there first, then back here to press it again.');
  for (const form of document.querySelectorAll('form[data-decide]')) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const token = signedIn();
      if (!token) return signIn();
      const response = await fetch(location.pathname, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Bearer ' + token.idToken },
        body: new URLSearchParams(new FormData(form)),
      });
      if (response.status === 401) {
        sessionStorage.removeItem(TOKEN);
        return say('Your sign-in was not accepted (it may have expired). Nothing was decided. Press the button again to sign in.');
      }
      if (response.redirected) return location.replace(response.url);
      const page = await response.text();
      document.open();
      document.write(page);
      document.close();
    });
  }
}
(document.getElementById('sign-in-config').dataset.page === 'signed-in' ? finish : decide)().catch(() => say('Something went wrong while signing in. Nothing was decided.'));
})();`;

/** The CSP hash of the sign-in script. */
export const SIGN_IN_SCRIPT_HASH = `sha256-${createHash('sha256').update(SIGN_IN_SCRIPT).digest('base64')}`;

/** A URL as a CSP source: no query or fragment (CSP ignores them) and nothing that would end the directive. */
function cspSource(url: string): string {
  const parsed = new URL(url);
  const source = `${parsed.origin}${parsed.pathname}`;
  if (/[\s;,']/.test(source)) throw new Error(`${url} cannot be named in a Content-Security-Policy`);
  return source;
}

/**
 * The pages' CSP. With sign-in: the one script by its hash, and fetch only to this origin (the
 * decision) and to the issuer's token endpoint (the code exchange).
 */
export function contentSecurityPolicy(signIn?: SignInConfig): string {
  return [
    "default-src 'none'",
    `style-src '${STYLE_HASH}'`,
    ...(signIn ? [`script-src '${SIGN_IN_SCRIPT_HASH}'`, `connect-src 'self' ${cspSource(signIn.tokenEndpoint)}`] : []),
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** The data the sign-in script reads: JSON that cannot end its element (`<` is escaped). */
function signInBlock(signIn: SignInConfig, page: 'approval' | 'signed-in'): string {
  const data = JSON.stringify({
    issuer: signIn.issuer,
    clientId: signIn.clientId,
    authorizationEndpoint: signIn.authorizationEndpoint,
    tokenEndpoint: signIn.tokenEndpoint,
    scope: signIn.scope,
    claim: signIn.claim,
  }).replace(/</g, '\\u003c');
  return `<p class="notice" id="sign-in-status" role="status">Signing in needs JavaScript.</p>
<script type="application/json" id="sign-in-config" data-page="${page}">${data}</script>`;
}

/** The script itself, placed after the forms it handles. */
const SIGN_IN_SCRIPT_TAG = `<script>${SIGN_IN_SCRIPT}</script>`;

/** Where the issuer sends the approver back (`GET /signed-in`): finishes the sign-in, then returns to the approval page. */
export function renderSignedInPage(signIn: SignInConfig): string {
  return layout('Signing in', `<h1>Signing in</h1>\n${signInBlock(signIn, 'signed-in')}\n${SIGN_IN_SCRIPT_TAG}`);
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** The stored evidence is JSON written by `RequestApproval`; read it defensively all the same. */
function asEvidence(evidence: Record<string, unknown>): Partial<ApprovalEvidence> {
  return evidence as Partial<ApprovalEvidence>;
}

function formatSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h ? `${h} h ${m} min ${s} s` : m ? `${m} min ${s} s` : `${s} s`;
}

function row(label: string, valueHtml: string): string {
  return `<tr><th scope="row">${escapeHtml(label)}</th><td>${valueHtml}</td></tr>`;
}

function list(items: unknown): string {
  if (!isStringArray(items) || items.length === 0) return '<span class="muted">none</span>';
  return `<ul>${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`;
}

function smokeTable(tests: SmokeEvidence[] | undefined): string {
  if (!Array.isArray(tests) || tests.length === 0) return '<p class="muted">No smoke tests were configured.</p>';
  const rows = tests
    .map(
      (t) =>
        `<tr><td>${escapeHtml(truncateValue(String(t.name)))}</td><td class="${t.passed ? 'pass' : 'fail'}">${t.passed ? 'pass' : 'FAIL'}</td><td><code>${escapeHtml(truncateValue(String(t.value)))}</code> <span class="muted">(expected ${escapeHtml(truncateValue(String(t.expect)))})</span></td></tr>`,
    )
    .join('');
  return `<table><thead><tr><th scope="col">Test</th><th scope="col">Result</th><th scope="col">Value</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function rowCountTable(counts: RowCountEvidence[] | undefined): string {
  if (!Array.isArray(counts) || counts.length === 0) return '<p class="muted">No row counts were recorded.</p>';
  const rows = counts
    .map((c) => {
      const differs = c.blue !== undefined && c.green !== undefined && c.blue !== c.green;
      return `<tr><td>${escapeHtml(c.name)}</td><td>${escapeHtml(c.blue ?? '-')}</td><td${differs ? ' class="fail"' : ''}>${escapeHtml(c.green ?? '-')}</td></tr>`;
    })
    .join('');
  return `<table><thead><tr><th scope="col">Table</th><th scope="col">Blue</th><th scope="col">Green</th></tr></thead><tbody>${rows}</tbody></table>`;
}

export function renderEvidence(record: ApprovalRecord): string {
  const e = asEvidence(record.evidence);
  const smokeFailed = Array.isArray(e.smokeTests) ? e.smokeTests.filter((t) => !t.passed).length : 0;
  const downtime =
    typeof e.downtimeSoFarSeconds === 'number'
      ? `${escapeHtml(formatSeconds(e.downtimeSoFarSeconds))} <span class="muted">(blue fenced at ${escapeHtml(e.fencedAt)})</span>`
      : '<span class="muted">unknown: no fence recorded</span>';
  const rows = [
    row(
      'Blue (current)',
      `<code>${escapeHtml(e.blue?.clusterId)}</code><br><code>${escapeHtml(e.blue?.endpoint)}</code><br>engine ${escapeHtml(e.blue?.engineVersion)}`,
    ),
    row(
      'Green (new)',
      `<code>${escapeHtml(e.green?.clusterId)}</code><br><code>${escapeHtml(e.green?.endpoint)}</code><br>engine ${escapeHtml(e.green?.engineVersion)}`,
    ),
    row(
      'CNAME',
      `<code>${escapeHtml(e.cname?.recordName)}</code> <span class="muted">zone ${escapeHtml(e.cname?.hostedZoneId)}</span>`,
    ),
    ...(e.engineUpgrade
      ? [
          row(
            'Engine upgrade',
            `${escapeHtml(e.engineUpgrade.from)} &rarr; ${escapeHtml(e.engineUpgrade.to)}${e.engineUpgrade.isMajor ? ' (major)' : ''}`,
          ),
        ]
      : []),
    row(
      'Write fence verified on green',
      e.fenceVerified
        ? '<span class="pass">yes</span>'
        : '<span class="fail">NO: the clone may be missing writes</span>',
    ),
    row('Downtime so far', downtime),
    ...(typeof e.replicationLagBytes === 'number'
      ? [
          row(
            'Replication lag (online)',
            `${e.replicationLagBytes} bytes of WAL <span class="muted">at ${escapeHtml(e.replicationLagAt)}</span>`,
          ),
        ]
      : []),
    row('Migrations applied', list(e.migrationsApplied)),
    ...(Array.isArray(e.migrationHashes) && e.migrationHashes.length
      ? [
          row(
            'Migration files (SHA-256)',
            `<ul>${e.migrationHashes
              .map(
                (m) =>
                  `<li><code>${escapeHtml(m.name)}</code><br><code>${escapeHtml(m.sha256)}</code>${m.versionId ? ` <span class="muted">S3 version ${escapeHtml(m.versionId)}</span>` : ''}</li>`,
              )
              .join('')}</ul>`,
          ),
        ]
      : []),
    ...(isStringArray(e.migrationsSkipped) && e.migrationsSkipped.length
      ? [row('Migrations skipped', list(e.migrationsSkipped))]
      : []),
    ...(isStringArray(e.migrationWarnings) && e.migrationWarnings.length
      ? [
          row(
            'Migration statements that could stop replication',
            `<span class="fail">a row blue accepts could fail on green</span>${list(e.migrationWarnings.map((w) => truncateValue(w)))}`,
          ),
        ]
      : []),
    ...(isStringArray(e.inheritedSlots) && e.inheritedSlots.length
      ? [
          row(
            'Replication slots green inherited',
            `<span class="fail">their CDC consumers must act at the cutover</span>${list(e.inheritedSlots)}`,
          ),
        ]
      : []),
    row(
      'Smoke tests',
      Array.isArray(e.smokeTests)
        ? `<span class="${smokeFailed ? 'fail' : 'pass'}">${e.smokeTests.length - smokeFailed} of ${e.smokeTests.length} passed</span>`
        : '<span class="muted">none</span>',
    ),
    row('Decide before', `${escapeHtml(record.expiresAt)} <span class="muted">(then it rolls back)</span>`),
    row('Execution', `<code>${escapeHtml(record.executionArn)}</code>`),
  ];
  return `<table><tbody>${rows.join('')}</tbody></table>
<h2>Smoke tests on green</h2>
${smokeTable(e.smokeTests)}
<h2>Row counts</h2>
${rowCountTable(e.rowCounts)}
<h2>If you approve</h2>
${list(e.onApprove)}
<h2>If you reject</h2>
${list(e.onReject)}`;
}

function title(record: ApprovalRecord): string {
  const e = asEvidence(record.evidence);
  return `Cutover of ${e.blue?.clusterId ?? 'blue'} to ${e.green?.clusterId ?? 'green'}`;
}

/**
 * GET on a pending approval: the evidence and the two forms. Forms post back to this same URL;
 * with `signIn`, the script posts them with the approver's ID token instead.
 */
export function renderPendingPage(record: ApprovalRecord, signIn?: SignInConfig): string {
  if (decisionKindOf(record.evidence) === 'failback') return renderFailbackPendingPage(record, signIn);
  const decide = signIn ? ' data-decide' : '';
  const nonce = escapeHtml(record.nonce);
  return layout(
    title(record),
    `<h1>Approve the cutover of <code>${escapeHtml(asEvidence(record.evidence).blue?.clusterId)}</code>?</h1>
<p class="notice">Nothing has been decided yet. Review the evidence, then approve or reject below.</p>
${
  asEvidence(record.evidence).fencedAt
    ? `<p class="notice fail" id="writes-blocked">Writes are blocked: blue has taken no writes since ${escapeHtml(asEvidence(record.evidence).fencedAt)}. Every minute this approval waits is downtime for applications.</p>`
    : ''
}
${renderEvidence(record)}
${signIn ? signInBlock(signIn, 'approval') : ''}
<div class="decide">
<form method="post" action="" id="approve-form"${decide}>
<input type="hidden" name="nonce" value="${nonce}">
<input type="hidden" name="decision" value="approve">
<label for="approve-confirm">Type <code id="confirm-cluster-id">${escapeHtml(asEvidence(record.evidence).blue?.clusterId)}</code> (blue’s cluster id) to approve</label>
<input id="approve-confirm" name="confirm" required autocomplete="off" autocapitalize="off" spellcheck="false">
<label for="approve-reason">Comment (optional)</label>
<textarea id="approve-reason" name="reason" maxlength="${MAX_REASON_LENGTH}"></textarea>
<button type="submit" class="approve">Approve cutover</button>
</form>
<form method="post" action="" id="reject-form"${decide}>
<input type="hidden" name="nonce" value="${nonce}">
<input type="hidden" name="decision" value="reject">
<label for="reject-reason">Reason for rejecting (required)</label>
<textarea id="reject-reason" name="reason" required maxlength="${MAX_REASON_LENGTH}"></textarea>
<button type="submit" class="reject">Reject and roll back</button>
</form>
</div>${signIn ? `\n${SIGN_IN_SCRIPT_TAG}` : ''}`,
  );
}

/** A decided approval (also what the approver sees right after deciding). */
export function renderDecidedPage(record: ApprovalRecord, note?: string): string {
  if (decisionKindOf(record.evidence) === 'failback') return renderFailbackDecidedPage(record, note);
  const approved = record.status === 'approved';
  const headline = approved ? 'This cutover was approved' : 'This cutover was rejected';
  // Anyone with the link sees this page: the decider's IP and browser stay in the table and the access log.
  const who = record.decidedAt ? `at ${escapeHtml(record.decidedAt)}` : '';
  const e = asEvidence(record.evidence);
  return layout(
    headline,
    `<h1>${escapeHtml(headline)}</h1>
<p class="notice">Already decided ${who}. This link cannot decide again.</p>
${note ? `<p>${escapeHtml(note)}</p>` : ''}
${record.reason ? `<p><strong>${approved ? 'Comment' : 'Reason'}:</strong> ${escapeHtml(record.reason)}</p>` : ''}
<h2>What happens now</h2>
${list(approved ? e.onApprove : e.onReject)}
<h2>Evidence at the time of the decision</h2>
${renderEvidence(record)}`,
  );
}

export function renderExpiredPage(record: ApprovalRecord): string {
  if (decisionKindOf(record.evidence) === 'failback') {
    return layout(
      'Failback no longer offered',
      `<h1>Blue's retention has ended</h1>
<p class="notice">Nobody failed back before ${escapeHtml(record.expiresAt)}. Green stays the live database; the replication to blue is removed and blue is deleted with a final snapshot.</p>`,
    );
  }
  return layout(
    'Approval expired',
    `<h1>This approval has expired</h1>
<p class="notice">Nobody decided before ${escapeHtml(record.expiresAt)}. The deployment does not wait any more and rolls back as on reject. Start a new execution to try again.</p>`,
  );
}

export function renderNotFoundPage(): string {
  return layout(
    'Approval not found',
    `<h1>No such approval</h1>
<p class="notice">This link does not match any approval request. Check that you opened the whole link from the email; old approvals are removed some days after they expire.</p>`,
  );
}

export function renderMessagePage(heading: string, message: string): string {
  return layout(heading, `<h1>${escapeHtml(heading)}</h1>\n<p class="notice">${escapeHtml(message)}</p>`);
}

// ---- the failback offer (docs/failback.md) -------------------------------------------------------

function failbackEvidence(record: ApprovalRecord): Partial<FailbackEvidence> {
  return record.evidence as Partial<FailbackEvidence>;
}

function renderFailbackEvidence(record: ApprovalRecord): string {
  const e = failbackEvidence(record);
  const rows = [
    row(
      'Green (live now)',
      `<code>${escapeHtml(e.green?.clusterId)}</code><br><code>${escapeHtml(e.green?.endpoint)}</code><br>engine ${escapeHtml(e.green?.engineVersion)}`,
    ),
    row(
      'Blue (retained, following green)',
      `<code>${escapeHtml(e.blue?.clusterId)}</code><br><code>${escapeHtml(e.blue?.endpoint)}</code><br>engine ${escapeHtml(e.blue?.engineVersion)}`,
    ),
    row(
      'CNAME',
      `<code>${escapeHtml(e.cname?.recordName)}</code> <span class="muted">zone ${escapeHtml(e.cname?.hostedZoneId)}</span>`,
    ),
    ...(e.cutoverAt ? [row('Cutover in sync at', escapeHtml(e.cutoverAt))] : []),
    row('Replicated to blue', list(e.replicatedDatabases)),
    ...(isStringArray(e.notFollowed) && e.notFollowed.length
      ? [row('Not followed by blue (green only)', list(e.notFollowed))]
      : []),
    row(
      'Offered until',
      `${escapeHtml(record.expiresAt)} <span class="muted">(then green is kept and blue deleted)</span>`,
    ),
    row('Execution', `<code>${escapeHtml(record.executionArn)}</code>`),
  ];
  return `<table><tbody>${rows.join('')}</tbody></table>
<h2>If you fail back</h2>
${list(e.onFailback)}
<h2>If nobody does</h2>
${list(e.onTimeout)}`;
}

/** GET on a pending failback offer: what happens, and one form. It posts back to this same URL. */
function renderFailbackPendingPage(record: ApprovalRecord, signIn?: SignInConfig): string {
  const decide = signIn ? ' data-decide' : '';
  const e = failbackEvidence(record);
  const blueId = escapeHtml(e.blue?.clusterId);
  return layout(
    `Fail back to ${e.blue?.clusterId ?? 'blue'}`,
    `<h1>Fail back to <code>${blueId}</code>?</h1>
<p class="notice">Nothing has been decided yet. Green serves applications; blue follows its writes. Failing back blocks writes until blue serves again.</p>
${renderFailbackEvidence(record)}
${signIn ? signInBlock(signIn, 'approval') : ''}
<div class="decide">
<form method="post" action="" id="failback-form"${decide}>
<input type="hidden" name="nonce" value="${escapeHtml(record.nonce)}">
<input type="hidden" name="decision" value="failback">
<label for="failback-confirm">Type <code id="confirm-cluster-id">${blueId}</code> (blue’s cluster id) to fail back</label>
<input id="failback-confirm" name="confirm" required autocomplete="off" autocapitalize="off" spellcheck="false">
<label for="failback-reason">Reason (optional)</label>
<textarea id="failback-reason" name="reason" maxlength="${MAX_REASON_LENGTH}"></textarea>
<button type="submit" class="reject">Fail back to blue</button>
</form>
</div>${signIn ? `\n${SIGN_IN_SCRIPT_TAG}` : ''}`,
  );
}

function renderFailbackDecidedPage(record: ApprovalRecord, note?: string): string {
  const headline = 'Failback to blue was decided';
  const e = failbackEvidence(record);
  return layout(
    headline,
    `<h1>${escapeHtml(headline)}</h1>
<p class="notice">Already decided${record.decidedAt ? ` at ${escapeHtml(record.decidedAt)}` : ''}. This link cannot decide again.</p>
${note ? `<p>${escapeHtml(note)}</p>` : ''}
${record.reason ? `<p><strong>Reason:</strong> ${escapeHtml(record.reason)}</p>` : ''}
<h2>What happens now</h2>
${list(e.onFailback)}
<h2>At the time of the decision</h2>
${renderFailbackEvidence(record)}`,
  );
}
