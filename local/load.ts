import fs from 'node:fs';
import { Client, type ClientConfig } from 'pg';
import { SUPERUSER } from './postgres';

/**
 * The application of the rehearsal: writes through the CNAME at a steady rate with a sticky pool
 * (connections kept across SQL errors and replaced only when they break, as HikariCP does), plus
 * the other clients of `LoadClients`. Every acknowledged write (the server said COMMIT) is
 * logged, so that at the end `verify` can say which acknowledged writes are missing from the
 * database behind the CNAME (lost), and `leaked` which rows blue has that are not there.
 */

export interface LoadAddress {
  host: string;
  port: number;
}

/**
 * The clients of the load besides the sticky pool (always on). The polite ones are what a real
 * application has; the rogue ones (`adminPath`, `replication`) write on blue's own port past the
 * fence, which only the workflow's detection (CheckFenceHeld) can catch.
 */
export interface LoadClients {
  /** Sticky connections of the pool (HikariCP-like: kept across SQL errors). @default 1 */
  poolSize?: number;
  /** Every other pooled write takes its id from a sequence (`app.seq_writes`). */
  sequenceIds?: boolean;
  /** One session whose transactions each span ~2 s (ten inserts, one COMMIT): one spans the fence. */
  spanningTransaction?: boolean;
  /** One session that inserts, then sits idle in its transaction before committing. */
  idleInTransaction?: { idleMs: number };
  /** ROGUE: a client on the admin path that turns read-only off in its own session and writes. */
  adminPath?: LoadAddress;
  /** ROGUE: a `replication=database` connection (a walsender) that INSERTs. */
  replication?: LoadAddress;
}

export interface LoadOptions {
  /** Where the application connects: the CNAME proxy. */
  readonly host: string;
  readonly port: number;
  /**
   * The client's resolver: where the CNAME leads and for how long that answer may be cached
   * (the record's TTL). Connections opened before the cached answer expires keep using the old
   * target, as real resolvers do. @default - always `host:port`
   */
  readonly resolve?: () => { address: LoadAddress; ttlSeconds: number } | undefined;
  /** Attempted writes per second (the pool's; the other clients write at their own pace). */
  readonly ratePerSecond: number;
  readonly clients?: LoadClients;
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

/** The tables the load writes to, one per kind of client (local/sample/schema.sql). */
export const LOAD_TABLES = {
  pool: 'app.load_writes',
  sequence: 'app.seq_writes',
  admin: 'app.admin_writes',
  replication: 'app.repl_writes',
} as const;
export type LoadTable = (typeof LOAD_TABLES)[keyof typeof LOAD_TABLES];

export interface AcknowledgedWrite {
  id: number;
  /** The table it went to (LOAD_TABLES). */
  table: LoadTable;
  /** The client that wrote it: `pool-N`, `spanning`, `idle-in-transaction`, `admin-path`, `replication`. */
  client: string;
  /** When the server's acknowledgement arrived (ISO). */
  at: string;
  latencyMs: number;
  /** `inet_server_port()` of the server that committed it: which server the CNAME led to. */
  serverPort: number;
}

export interface RejectedWrite {
  id: number;
  client: string;
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
  /** Sessions (connections) the load opened. */
  sessions: number;
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
  /** Acknowledged ids that are not in their table on the target: lost writes. */
  missing: number[];
  /** The same, by table. */
  missingByTable: Partial<Record<LoadTable, number[]>>;
}

export interface LoadGenerator {
  stop(): Promise<void>;
  stats(): LoadStats;
  acknowledged(): readonly AcknowledgedWrite[];
  rejected(): readonly RejectedWrite[];
  /** The pool's clients (`pool-N`) that have each had a write acknowledged at or after `sinceMs`. */
  poolResumedSince(sinceMs: number): boolean;
  /** Which acknowledged writes are missing on the given server (the lost-writes detector). */
  verify(target: VerifyTarget): Promise<VerifyResult>;
}

type Address = LoadAddress;

/** A session kept across SQL errors; replaced only when the connection itself breaks. */
class StickySession {
  private client: Client | undefined;
  private broken = false;

  constructor(
    private readonly config: ClientConfig,
    private readonly address: () => Address,
    private readonly onOpen: () => void,
    private readonly setup: string[] = [],
  ) {}

  async get(): Promise<Client> {
    if (this.client && !this.broken) return this.client;
    await this.close();
    const address = this.address();
    const client = new Client({ ...this.config, host: address.host, port: address.port });
    this.broken = false;
    client.on('error', () => {
      this.broken = true;
    });
    client.on('end', () => {
      this.broken = true;
    });
    this.client = client;
    try {
      await client.connect();
      this.onOpen();
      for (const sql of this.setup) await client.query(sql);
    } catch (error) {
      this.broken = true;
      throw error;
    }
    return client;
  }

  /** After an error: a SQL error (SQLSTATE, connection alive) keeps the session; anything else drops it. */
  failed(error: unknown): void {
    const code = (error as { code?: string }).code ?? '';
    const sqlError = /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57P');
    if (!sqlError) this.broken = true;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => undefined);
  }
}

export function startLoad(options: LoadOptions): LoadGenerator {
  if (!(options.ratePerSecond > 0)) throw new Error('ratePerSecond must be positive');
  const clients = options.clients ?? {};
  const database = options.database ?? 'app';
  const user = options.user ?? SUPERUSER.username;
  const password = options.password ?? SUPERUSER.password;
  const base: ClientConfig = {
    database,
    user,
    password,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    query_timeout: options.queryTimeoutMs ?? 3000,
  };

  // The client-side resolver: one cached answer per TTL, as the OS or the JVM caches it.
  let cached: { address: Address; expiresAt: number } | undefined;
  const resolveCname = (): Address => {
    if (!options.resolve) return { host: options.host, port: options.port };
    const now = Date.now();
    if (cached && cached.expiresAt > now) return cached.address;
    const answer = options.resolve();
    if (!answer) return { host: options.host, port: options.port };
    cached = { address: answer.address, expiresAt: now + answer.ttlSeconds * 1000 };
    return answer.address;
  };

  const logStream = options.logFile ? fs.createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  logStream?.on('error', () => undefined);
  const startedAtMs = Date.now();
  let stoppedAtMs: number | undefined;
  const acked: AcknowledgedWrite[] = [];
  const rejected: RejectedWrite[] = [];
  let sessions = 0;
  const opened = () => {
    sessions++;
  };
  let nextId = options.firstId ?? Date.now() * 1000;
  let running = true;
  const wakers = new Set<() => void>();
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });

  const ack = (id: number, table: LoadTable, client: string, sent: number, serverPort: number) => {
    const now = Date.now();
    const write: AcknowledgedWrite = {
      id,
      table,
      client,
      at: new Date(now).toISOString(),
      latencyMs: now - sent,
      serverPort,
    };
    acked.push(write);
    logStream?.write(`${JSON.stringify({ acknowledged: write })}\n`);
  };
  const reject = (id: number, client: string, error: unknown) => {
    const e = error as Error & { code?: string };
    const write: RejectedWrite = {
      id,
      client,
      at: new Date().toISOString(),
      error: e.message ?? String(error),
      ...(e.code ? { code: e.code } : {}),
    };
    rejected.push(write);
    logStream?.write(`${JSON.stringify({ rejected: write })}\n`);
  };

  /** Runs `step` every `intervalMs`, resuming the pace after a stall instead of bursting. */
  const paced = async (intervalMs: number, step: () => Promise<void>) => {
    let due = Date.now();
    while (running) {
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      if (!running) break;
      due = Math.max(due + intervalMs, Date.now());
      await step();
    }
  };

  const sticky: StickySession[] = [];
  const loops: Promise<void>[] = [];
  const poolSize = Math.max(1, clients.poolSize ?? 1);
  const poolNames: string[] = [];

  for (let n = 0; n < poolSize; n++) {
    const name = `pool-${n + 1}`;
    poolNames.push(name);
    const session = new StickySession({ ...base, application_name: 'rehearsal-load' }, resolveCname, opened);
    sticky.push(session);
    let count = 0;
    loops.push(
      paced((1000 * poolSize) / options.ratePerSecond, async () => {
        const useSequence = clients.sequenceIds === true && count++ % 2 === 1;
        const id = useSequence ? 0 : nextId++;
        const sent = Date.now();
        try {
          const client = await session.get();
          if (useSequence) {
            const r = await client.query<{ id: string; port: number }>(
              `INSERT INTO ${LOAD_TABLES.sequence} DEFAULT VALUES RETURNING id::text AS id, inet_server_port() AS port`,
            );
            ack(Number(r.rows[0]?.id), LOAD_TABLES.sequence, name, sent, Number(r.rows[0]?.port ?? 0));
          } else {
            const r = await client.query<{ port: number }>(
              `INSERT INTO ${LOAD_TABLES.pool} (id, written_at) VALUES ($1, now()) RETURNING inet_server_port() AS port`,
              [id],
            );
            ack(id, LOAD_TABLES.pool, name, sent, Number(r.rows[0]?.port ?? 0));
          }
        } catch (error) {
          session.failed(error);
          reject(id, name, error);
        }
      }),
    );
  }

  /** A session that writes `rows` rows in one transaction, `gapMs` apart, then commits. */
  const transactional = (name: string, rows: number, gapMs: number, pauseMs: number) => {
    const session = new StickySession({ ...base, application_name: `rehearsal-load-${name}` }, resolveCname, opened);
    sticky.push(session);
    loops.push(
      paced(pauseMs, async () => {
        const ids: number[] = [];
        const sent = Date.now();
        let port = 0;
        let client: Client | undefined;
        try {
          client = await session.get();
          await client.query('BEGIN');
          for (let i = 0; i < rows && running; i++) {
            const id = nextId++;
            ids.push(id);
            const r = await client.query<{ port: number }>(
              `INSERT INTO ${LOAD_TABLES.pool} (id, written_at) VALUES ($1, now()) RETURNING inet_server_port() AS port`,
              [id],
            );
            port = Number(r.rows[0]?.port ?? 0);
            if (i < rows - 1) await sleep(gapMs);
          }
          await client.query('COMMIT');
          for (const id of ids) ack(id, LOAD_TABLES.pool, name, sent, port);
        } catch (error) {
          session.failed(error);
          await client?.query('ROLLBACK').catch(() => undefined);
          for (const id of ids) reject(id, name, error);
        }
      }),
    );
  };
  if (clients.spanningTransaction) transactional('spanning', 10, 200, 100);
  if (clients.idleInTransaction) transactional('idle-in-transaction', 2, clients.idleInTransaction.idleMs, 100);

  /** A rogue client on blue's own port: keeps writing whatever the fence says. */
  const rogue = (name: string, address: Address, table: LoadTable, extra: ClientConfig, setup: string[]) => {
    const session = new StickySession(
      { ...base, ...extra, application_name: `rehearsal-load-${name}` },
      () => address,
      opened,
      setup,
    );
    sticky.push(session);
    loops.push(
      paced(100, async () => {
        const id = nextId++;
        const sent = Date.now();
        try {
          const client = await session.get();
          // Simple protocol, no parameters: a walsender accepts nothing else.
          const r = await client.query<{ port: number }>(
            `INSERT INTO ${table} (id) VALUES (${id}) RETURNING inet_server_port() AS port`,
          );
          ack(id, table, name, sent, Number(r.rows[0]?.port ?? 0));
        } catch (error) {
          session.failed(error);
          reject(id, name, error);
        }
      }),
    );
  };
  if (clients.adminPath) {
    rogue('admin-path', clients.adminPath, LOAD_TABLES.admin, {}, ['SET default_transaction_read_only = off']);
  }
  if (clients.replication) {
    rogue('replication', clients.replication, LOAD_TABLES.replication, { replication: 'database' } as ClientConfig, [
      'SET default_transaction_read_only = off',
    ]);
  }

  return {
    async stop() {
      if (!running) return;
      running = false;
      for (const wake of [...wakers]) wake();
      await Promise.all(loops);
      stoppedAtMs = Date.now();
      await Promise.all(sticky.map((s) => s.close()));
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
        sessions,
        series,
        ...(longestGap ? { longestGap } : {}),
      };
    },

    acknowledged: () => acked,
    rejected: () => rejected,

    poolResumedSince(sinceMs) {
      return poolNames.every((name) => acked.some((w) => w.client === name && Date.parse(w.at) >= sinceMs));
    },

    async verify(target) {
      const present = await presentIds(
        { database, user, password, ...target },
        acked.map((w) => ({ table: w.table, id: w.id })),
      );
      const missingByTable: VerifyResult['missingByTable'] = {};
      const missing: number[] = [];
      for (const w of acked) {
        if (present.get(w.table)?.has(w.id)) continue;
        missing.push(w.id);
        (missingByTable[w.table] ??= []).push(w.id);
      }
      return { acknowledged: acked.length, present: acked.length - missing.length, missing, missingByTable };
    },
  };
}

function connectTo(target: VerifyTarget & { database: string; user: string; password: string }): Client {
  const client = new Client({
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    connectionTimeoutMillis: 10_000,
    application_name: 'rehearsal-verify',
  });
  client.on('error', () => undefined);
  return client;
}

/** Which of the given rows exist on the target, by table. */
async function presentIds(
  target: VerifyTarget & { database: string; user: string; password: string },
  rows: { table: LoadTable; id: number }[],
): Promise<Map<LoadTable, Set<number>>> {
  const client = connectTo(target);
  await client.connect();
  try {
    const result = new Map<LoadTable, Set<number>>();
    for (const table of Object.values(LOAD_TABLES)) {
      const ids = rows.filter((r) => r.table === table).map((r) => String(r.id));
      if (ids.length === 0) continue;
      const r = await client.query<{ id: string }>(`SELECT id::text AS id FROM ${table} WHERE id = ANY($1::bigint[])`, [
        ids,
      ]);
      result.set(table, new Set(r.rows.map((row) => Number(row.id))));
    }
    return result;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Every row of the load's tables on `source` (blue's final state). */
export async function loadRows(
  source: VerifyTarget & { database: string; user: string; password: string },
): Promise<{ table: LoadTable; id: number }[]> {
  const client = connectTo(source);
  await client.connect();
  try {
    const rows: { table: LoadTable; id: number }[] = [];
    for (const table of Object.values(LOAD_TABLES)) {
      const r = await client.query<{ id: string }>(`SELECT id::text AS id FROM ${table}`);
      for (const row of r.rows) rows.push({ table, id: Number(row.id) });
    }
    return rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Rows that `source` (blue's final state) has and `behind` (the database behind the CNAME) has
 * not, whether or not their acknowledgement ever reached the application: leaked writes.
 */
export async function leakedRows(
  source: VerifyTarget & { database: string; user: string; password: string },
  behind: VerifyTarget & { database: string; user: string; password: string },
): Promise<{ rows: number; leaked: { table: LoadTable; id: number }[] }> {
  const rows = await loadRows(source);
  const present = await presentIds(behind, rows);
  return { rows: rows.length, leaked: rows.filter((r) => !present.get(r.table)?.has(r.id)) };
}
