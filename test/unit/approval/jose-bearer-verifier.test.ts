import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { JoseBearerVerifier } from '../../../local/jose-bearer-verifier';

/**
 * The local server's stand-in for API Gateway's JWT authorizer, against real tokens signed by
 * jose with real keys, and a JWKS served over HTTP as an issuer serves it.
 */

const AUDIENCE = 'approval-page';
type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

describe('JoseBearerVerifier', () => {
  let server: Server;
  let issuer: string;
  let signingKey: SigningKey;
  let forgerKey: SigningKey;
  let jwk: JWK;
  let jwksRequests = 0;

  beforeAll(async () => {
    const issuerPair = await generateKeyPair('RS256');
    signingKey = issuerPair.privateKey;
    forgerKey = (await generateKeyPair('RS256')).privateKey;
    jwk = { ...(await exportJWK(issuerPair.publicKey)), kid: 'issuer-key', alg: 'RS256', use: 'sig' };
    server = createServer((req, res) => {
      const json = (body: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/.well-known/openid-configuration') {
        return json({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
        });
      }
      if (req.url === '/jwks') {
        jwksRequests += 1;
        return json({ keys: [jwk] });
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function idToken(
    options: {
      claims?: JWTPayload;
      key?: SigningKey;
      issuer?: string;
      audience?: string;
      expires?: string | number;
    } = {},
  ): Promise<string> {
    const jwt = new SignJWT({ email: 'bob@example.com', email_verified: true, ...options.claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'issuer-key' })
      .setIssuer(options.issuer ?? issuer)
      .setAudience(options.audience ?? AUDIENCE)
      .setSubject('user-bob')
      .setIssuedAt();
    if (options.expires !== undefined) jwt.setExpirationTime(options.expires);
    return jwt.sign(options.key ?? signingKey);
  }

  const verifier = () => JoseBearerVerifier.forIssuer(issuer, [AUDIENCE]);

  it('accepts a token signed by a key of the issuer JWKS, for the audience, unexpired', async () => {
    const verified = await (await verifier()).verify(await idToken({ expires: '5m' }));
    expect(verified.issuer).toBe(issuer);
    expect(verified.claims).toMatchObject({ iss: issuer, aud: AUDIENCE, email: 'bob@example.com' });
    expect(jwksRequests).toBeGreaterThan(0);
  });

  it('refuses a forged signature: another key under the issuer key id', async () => {
    await expect((await verifier()).verify(await idToken({ key: forgerKey, expires: '5m' }))).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('refuses a payload altered after signing', async () => {
    const [header, , signature] = (await idToken({ expires: '5m' })).split('.');
    const altered = Buffer.from(
      JSON.stringify({ iss: issuer, aud: AUDIENCE, email: 'mallory@example.com', exp: 9_999_999_999 }),
    ).toString('base64url');
    await expect((await verifier()).verify(`${header}.${altered}.${signature}`)).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('refuses another issuer', async () => {
    const token = await idToken({ issuer: 'https://other-idp.example.com', expires: '5m' });
    await expect((await verifier()).verify(token)).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'iss',
    });
  });

  it('refuses another audience', async () => {
    const token = await idToken({ audience: 'some-other-client', expires: '5m' });
    await expect((await verifier()).verify(token)).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'aud',
    });
  });

  it('refuses an expired token', async () => {
    const token = await idToken({ expires: Math.floor(Date.now() / 1000) - 60 });
    await expect((await verifier()).verify(token)).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('refuses a token without an expiry, as API Gateway does', async () => {
    await expect((await verifier()).verify(await idToken())).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'exp',
    });
  });

  it('refuses a token signed with a shared secret (HS256), not the issuer key', async () => {
    const token = await new SignJWT({ email: 'bob@example.com' })
      .setProtectedHeader({ alg: 'HS256', kid: 'issuer-key' })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a shared secret that anyone could have'));
    await expect((await verifier()).verify(token)).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it('needs an audience', () => {
    expect(() => new JoseBearerVerifier({ issuer, audience: [], jwksUri: `${issuer}/jwks` })).toThrow(/audience/);
  });
});
