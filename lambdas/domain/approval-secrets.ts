import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * The approval id is the only secret an approver holds: it is in the emailed link and nowhere else.
 * Everything the approvals table keeps is either a hash of it or sealed with a key derived from it,
 * so whoever can read the table (or its backups) learns neither the link nor the form's nonce, and
 * cannot unseal the task token.
 */

/** Lower-case hex SHA-256 of a UTF-8 string: the table's key and the nonce's stored form. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * The approval form's nonce, derived from the approval id (HMAC-SHA256). The page that knows the id
 * can show it; the table keeps only its hash. A POST must still carry it, so a request that only
 * guesses the form (or replays the path) decides nothing.
 */
export function approvalNonce(approvalId: string): string {
  return createHmac('sha256', approvalId).update('aurora-bluegreen approval form nonce').digest('base64url');
}

function tokenKey(approvalId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', approvalId, 'aurora-bluegreen', 'task token', 32));
}

/** AES-256-GCM under a key derived from the approval id: `v1.<iv>.<tag>.<ciphertext>` (base64url). */
export function sealTaskToken(approvalId: string, taskToken: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', tokenKey(approvalId), iv);
  const ciphertext = Buffer.concat([cipher.update(taskToken, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), ciphertext]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

/** The task token, or undefined when `sealed` was not sealed for this approval id. */
export function openTaskToken(approvalId: string, sealed: string): string | undefined {
  const [version, iv, tag, ciphertext] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || ciphertext === undefined) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', tokenKey(approvalId), Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
