import fs from 'node:fs';
import { Client, Pool } from 'pg';
import { SUPERUSER } from './postgres';

/**
 * The application of the rehearsal: writes through the CNAME proxy at a steady rate with one
 * pooled connection that reconnects after errors, as a real application's pool does. Every
 * acknowledged write (the server said COMMIT) is logged, so that at the end `verify` can say
 * which acknowledged writes are missing from the database behind the CNAME: the lost writes.
 */

/** The table the load writes to (created by local/sample/schema.sql). */
export const LOAD_TABLE = 'app.load_writes';

export interface LoadOptions {
  /** Where the application connects: the CNAME proxy. */
  readonly host: string;
  readonly port: number;
  /** Attempted writes per second. */
  readonly ratePerSecond: number;
  /** @default 'app' */
  readonly database?: string;
  /** @default the local superuser */
  readonly user?: string;
  readonly password?: string;
  /** First id written; ids then increase by one per attempt. @default Date.now() * 1000 (unique across runs) */
  readonly firstId?: number;
  /** @default 2000 */
  readonly connectTimeoutMs?: number;
  /** A write without an answer after this long counts as rejected (outcome unknown). @default 3000 */
  readonly queryTimeoutMs?: number;
  /** Appends one JSON line per acknowledged or rejected write. @default - kept in memory only */
  readonly logFile?: string;
}

export interface AcknowledgedWrite {
  id: number;
  /** When the server's acknowledgement arrived (ISO). */
  at: string;
  latencyMs: number;
  /** `inet_server_port()` of the server that committed it: which server the CNAME led to. */
  serverPort: number;
}

export interface RejectedWrite {
  id: number;
  at: string;
  error: string;
  /** SQLSTATE or socket error code when there is one. */
  code?: string;
}

export interface LoadSecond {
  /** Seconds since the load started. */
  second: number;
  startedAt: string;
  acknowledged: number;
  rejected: number;
}

export interface LoadStats {
  startedAt: string;
  stoppedAt?: string;
  acknowledged: number;
  rejected: number;
  /** One entry per second since the start, including seconds with nothing acknowledged. */
  series: LoadSecond[];
  /** The longest time between two consecutive acknowledged writes. */
  longestGap?: { from: string; to: string; ms: number };
}

export interface VerifyTarget {
  host: string;
  port: number;
  /** @default the load's database */
  database?: string;
  user?: string;
  password?: string;
}

export interface VerifyResult {
  acknowledged: number;
  present: number;
  /** Acknowledged ids that are not in the table on the target: lost writes. */
  missing: number[];
}

export interface LoadGenerator {
  stop(): Promise<void>;
  stats(): LoadStats;
  acknowledged(): readonly AcknowledgedWrite[];
  rejected(): readonly RejectedWrite[];
  /** Which acknowledged writes are missing on the given server (the lost-writes detector). */
  verify(target: VerifyTarget): Promise<VerifyResult>;
}

export function startLoad(options: LoadOptions): LoadGenerator {
  if (!(options.ratePerSecond > 0)) throw new Error('ratePerSecond must be positive');
  const database = options.database ?? 'app';
  const user = options.user ?? SUPERUSER.username;
  const password = options.password ?? SUPERUSER.password;
  const pool = new Pool({
    host: options.host,
    port: options.port,
    database,
    user,
    password,
    max: 1,
    idleTimeoutMillis: 0,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    query_timeout: options.queryTimeoutMs ?? 3000,
    application_name: 'rehearsal-load',
  });
  // An idle pooled connection the server or the proxy ends emits 'error' on the pool; the pool
  // drops it and connects again on the next write, like an application's pool.
  pool.on('error', () => undefined);

  const logStream = options.logFile ? fs.createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  logStream?.on('error', () => undefined);
  const startedAtMs = Date.now();
  let stoppedAtMs: number | undefined;
  const acked: AcknowledgedWrite[] = [];
  const rejected: RejectedWrite[] = [];
  let nextId = options.firstId ?? Date.now() * 1000;
  let running = true;
  let wake: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });

  const loop = (async () => {
    const interval = 1000 / options.ratePerSecond;
    let due = Date.now();
    while (running) {
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      if (!running) break;
      // After a stall (a slow write), resume the pace instead of bursting to catch up.
      due = Math.max(due + interval, Date.now());
      const id = nextId++;
      const sent = Date.now();
      try {
        const result = await pool.query<{ port: number }>(
          `INSERT INTO ${LOAD_TABLE} (id, written_at) VALUES ($1, now()) RETURNING inet_server_port() AS port`,
          [id],
        );
        const now = Date.now();
        const write: AcknowledgedWrite = {
          id,
          at: new Date(now).toISOString(),
          latencyMs: now - sent,
          serverPort: Number(result.rows[0]?.port ?? 0),
        };
        acked.push(write);
        logStream?.write(`${JSON.stringify({ acknowledged: write })}\n`);
      } catch (error) {
        const e = error as Error & { code?: string };
        const write: RejectedWrite = {
          id,
          at: new Date().toISOString(),
          error: e.message ?? String(error),
          ...(e.code ? { code: e.code } : {}),
        };
        rejected.push(write);
        logStream?.write(`${JSON.stringify({ rejected: write })}\n`);
      }
    }
  })();

  return {
    async stop() {
      if (!running) return;
      running = false;
      if (timer) clearTimeout(timer);
      wake?.();
      await loop;
      stoppedAtMs = Date.now();
      await pool.end().catch(() => undefined);
      if (logStream) await new Promise<void>((resolve) => logStream.end(() => resolve()));
    },

    stats() {
      const endMs = stoppedAtMs ?? Date.now();
      const seconds = Math.max(1, Math.ceil((endMs - startedAtMs) / 1000));
      const series: LoadSecond[] = Array.from({ length: seconds }, (_, second) => ({
        second,
        startedAt: new Date(startedAtMs + second * 1000).toISOString(),
        acknowledged: 0,
        rejected: 0,
      }));
      const bucket = (at: string): LoadSecond | undefined =>
        series[Math.min(seconds - 1, Math.floor((Date.parse(at) - startedAtMs) / 1000))];
      for (const write of acked) {
        const s = bucket(write.at);
        if (s) s.acknowledged++;
      }
      for (const write of rejected) {
        const s = bucket(write.at);
        if (s) s.rejected++;
      }
      let longestGap: LoadStats['longestGap'];
      for (let i = 1; i < acked.length; i++) {
        const from = acked[i - 1] as AcknowledgedWrite;
        const to = acked[i] as AcknowledgedWrite;
        const ms = Date.parse(to.at) - Date.parse(from.at);
        if (!longestGap || ms > longestGap.ms) longestGap = { from: from.at, to: to.at, ms };
      }
      return {
        startedAt: new Date(startedAtMs).toISOString(),
        ...(stoppedAtMs ? { stoppedAt: new Date(stoppedAtMs).toISOString() } : {}),
        acknowledged: acked.length,
        rejected: rejected.length,
        series,
        ...(longestGap ? { longestGap } : {}),
      };
    },

    acknowledged: () => acked,
    rejected: () => rejected,

    async verify(target) {
      const ids = acked.map((w) => w.id);
      const client = new Client({
        host: target.host,
        port: target.port,
        database: target.database ?? database,
        user: target.user ?? user,
        password: target.password ?? password,
        connectionTimeoutMillis: 10_000,
        application_name: 'rehearsal-verify',
      });
      client.on('error', () => undefined);
      await client.connect();
      try {
        const result = await client.query<{ id: string }>(
          `SELECT id::text AS id FROM ${LOAD_TABLE} WHERE id = ANY($1::bigint[])`,
          [ids.map(String)],
        );
        const present = new Set(result.rows.map((row) => Number(row.id)));
        const missing = ids.filter((id) => !present.has(id));
        return { acknowledged: ids.length, present: present.size, missing };
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}
