import { Client, type ClientConfig, type QueryConfig } from 'pg';
import { mapAwsError, RETRYABLE_AWS_CODES } from '../domain/aws-errors';
import { RetryableAwsError } from '../domain/errors';
import type { Database, DbSession, DbTarget, QueryResult } from '../ports';

/**
 * The Database port on `pg` (docs/architecture.md). One `Client` per session, never a pool:
 * the fence must know the exact server process of each session (`pid`) to exempt it.
 * The AWS Lambdas pass Secrets Manager credentials and verified TLS; the local rehearsal passes
 * static credentials and `ssl: false`.
 */

export interface DbCredentials {
  username: string;
  password: string;
}

export interface PgDatabaseOptions {
  /** Called for every new session; cache inside (see secret-credentials.ts). */
  credentials: () => Promise<DbCredentials>;
  /** `false` only for the local rehearsal and tests. With no `ca`, Node's CAs plus NODE_EXTRA_CA_CERTS apply. */
  ssl: false | { ca?: string; rejectUnauthorized: true; servername?: string };
  /** @default 10_000 */
  connectTimeoutMs?: number;
  /** Maps a cluster endpoint to the address actually dialled (the rehearsal's admin path). @default identity */
  resolve?: (target: DbTarget) => { host: string; port: number };
  /**
   * The `sslmode` of the connection string a subscriber uses to reach a publisher
   * (replicationConninfo). @default `require` with TLS, `disable` without
   */
  replicationSslMode?: 'require' | 'disable';
}

export const APPLICATION_NAME = 'bluegreen';

/** SQLSTATEs after which the same step can simply run again: the server went away or is starting. */
const RETRYABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53400']);

interface PgLikeError {
  code?: string;
  message?: string;
}

function isRetryable(error: PgLikeError): boolean {
  const code = error.code ?? '';
  // Socket codes (ECONNRESET, ETIMEDOUT, ECONNREFUSED, …) as the shared AWS mapping knows them.
  if (RETRYABLE_SQLSTATES.has(code) || code.startsWith('08') || RETRYABLE_AWS_CODES.has(code)) return true;
  const message = error.message ?? '';
  // pg raises these without a code when the socket ends or the connect timeout fires.
  return /Connection terminated|connection timeout|timeout expired|Client has encountered a connection error/i.test(
    message,
  );
}

function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join('***') : text;
}

/**
 * Maps a pg error: connection-level failures become RetryableAwsError (through the shared mapping
 * for socket codes); SQL errors (with SQLSTATE, position, …) pass through unchanged so that the
 * steps can report them.
 */
export function mapPgError(error: unknown, action: string): Error {
  // Not `instanceof Error`: errors raised by Node's sockets may come from another realm (Jest's sandbox).
  if (typeof error !== 'object' || error === null) return mapAwsError(error, action);
  const e = error as Error & PgLikeError;
  if (e instanceof RetryableAwsError) return e;
  if (isRetryable(e)) {
    return new RetryableAwsError(`${action}: ${e.code ? `${e.code}: ` : ''}${e.message}`, { cause: e });
  }
  return mapAwsError(e, action);
}

/** pg's `queryMode: 'extended'` (pg 8.12+; @types/pg does not declare it yet). */
function extendedQuery(text: string, values: unknown[]): QueryConfig {
  const config = { text, values, queryMode: 'extended' };
  return config;
}

class PgSession implements DbSession {
  constructor(
    private readonly client: Client,
    readonly pid: number,
    private readonly where: string,
  ) {}

  async query<Row = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    options?: { protocol?: 'simple' | 'extended' },
  ): Promise<QueryResult<Row>> {
    try {
      // Without params pg uses the simple query protocol, so a multi-statement migration file
      // runs as sent and a server error's position counts from the start of the file. The
      // extended protocol (asked for, or implied by params) carries exactly one statement.
      const result =
        options?.protocol === 'extended'
          ? await this.client.query(extendedQuery(sql, params ?? []))
          : params?.length
            ? await this.client.query(sql, params)
            : await this.client.query(sql);
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return { rows: (last?.rows ?? []) as Row[], rowCount: last?.rowCount ?? 0 };
    } catch (error) {
      throw mapPgError(error, `query on ${this.where}`);
    }
  }

  async close(): Promise<void> {
    try {
      await this.client.end();
    } catch {
      // Closing a session the server already ended is not an error worth reporting.
    }
  }
}

/** A libpq keyword value, quoted (single quotes; backslash and quote escaped). */
function conninfoValue(value: string | number): string {
  return `'${String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function createPgDatabase(options: PgDatabaseOptions): Database {
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const resolve = options.resolve ?? ((target: DbTarget) => ({ host: target.host, port: target.port }));

  return {
    async connect(target: DbTarget, database: string): Promise<DbSession> {
      const { host, port } = resolve(target);
      const credentials = await options.credentials();
      const where = `database "${database}" on ${host}:${port} as user "${credentials.username}" (cluster ${target.clusterId})`;
      const config: ClientConfig = {
        host,
        port,
        database,
        user: credentials.username,
        password: credentials.password,
        application_name: APPLICATION_NAME,
        connectionTimeoutMillis: connectTimeoutMs,
        keepAlive: true,
        ssl: options.ssl === false ? false : { ...options.ssl },
      };
      const client = new Client(config);
      // An idle session the server terminates emits 'error'; without a listener Node would crash.
      client.on('error', () => undefined);
      try {
        await client.connect();
        const result = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const pid = result.rows[0]?.pid;
        if (typeof pid !== 'number') throw new Error('the server did not report pg_backend_pid()');
        return new PgSession(client, pid, where);
      } catch (error) {
        await client.end().catch(() => undefined);
        const e = error as Error & PgLikeError;
        // Never let the password reach a message: build a fresh error with the redacted text only.
        const message = `Could not connect to ${where}: ${redact(e.message ?? String(error), credentials.password)}`;
        const code = e.code;
        if (isRetryable(e)) {
          throw new RetryableAwsError(message);
        }
        const failure = new Error(message) as Error & PgLikeError;
        if (code) failure.code = code;
        throw failure;
      }
    },

    /**
     * What the subscriber's server dials: the same address and user as the workflow's sessions.
     * `sslmode=require` in AWS (encrypted, but the server certificate is not verified): the
     * subscriber's libpq runs inside Aurora, where no `sslrootcert` file with the RDS CAs can be
     * placed, so `verify-full` cannot work there. The connection stays inside the VPC, between
     * two clusters that only the admin security group admits.
     */
    async replicationConninfo(target: DbTarget, database: string): Promise<string> {
      const { host, port } = resolve(target);
      const credentials = await options.credentials();
      const sslmode = options.replicationSslMode ?? (options.ssl === false ? 'disable' : 'require');
      return [
        `host=${conninfoValue(host)}`,
        `port=${conninfoValue(port)}`,
        `dbname=${conninfoValue(database)}`,
        `user=${conninfoValue(credentials.username)}`,
        `password=${conninfoValue(credentials.password)}`,
        `sslmode=${sslmode}`,
      ].join(' ');
    },
  };
}
