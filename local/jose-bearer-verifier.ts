import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { discoverIssuer, type VerifiedToken } from '../lambdas/approval/identity';
import type { BearerVerifier } from './approval-server';

export interface JoseBearerVerifierOptions {
  /** The only accepted `iss`, exactly. */
  issuer: string;
  /** Accepted `aud` values (API Gateway: the authorizer's audience, here `audience` or else `[clientId]`). */
  audience: readonly string[];
  /** The issuer's JSON Web Key Set (its discovery document's `jwks_uri`). */
  jwksUri: string;
}

/**
 * Plays API Gateway's JWT authorizer for the local approval server: the signature by a key of the
 * issuer's JWKS (fetched and cached by `jose`, refetched for an unknown `kid`), `iss` exactly the
 * issuer, `aud` one of the audiences, and `exp` present and in the future (`nbf`, `iat` too when
 * present). RSA signatures only, as API Gateway accepts.
 */
export class JoseBearerVerifier implements BearerVerifier {
  private readonly keys: JWTVerifyGetKey;

  constructor(private readonly options: JoseBearerVerifierOptions) {
    if (!options.audience.length) throw new Error('JoseBearerVerifier: audience must name at least one value');
    this.keys = createRemoteJWKSet(new URL(options.jwksUri));
  }

  /** The verifier for `issuer`, with its `jwks_uri` from the issuer's discovery document. */
  static async forIssuer(
    issuer: string,
    audience: readonly string[],
    fetchFn: typeof fetch = fetch,
  ): Promise<JoseBearerVerifier> {
    const { jwksUri } = await discoverIssuer(issuer, fetchFn);
    return new JoseBearerVerifier({ issuer, audience, jwksUri });
  }

  async verify(token: string): Promise<VerifiedToken> {
    const { payload } = await jwtVerify(token, this.keys, {
      issuer: this.options.issuer,
      audience: [...this.options.audience],
      algorithms: ['RS256', 'RS384', 'RS512'],
      requiredClaims: ['exp'],
    });
    return { issuer: this.options.issuer, claims: payload };
  }
}
