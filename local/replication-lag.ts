import { Client } from 'pg';
import type { AcknowledgedWrite, LoadAddress } from './load';
import { SUPERUSER } from './postgres';
import { lagAt, writeKey, type PendingWrite } from './report-metrics';

/**
 * Samples the replication lag of the rehearsal (docs/rehearsal.md, "replicationLagMs"): every
 * `intervalMs`, for the replication that runs now (blue to green in online mode, green back to
 * blue for failback), how long the oldest write that the source acknowledged to the application
 * has been waiting to appear on the follower. Only while the follower has an enabled
 * subscription: before it starts and after the switchover drops it, there is nothing to sample.
 */

export type LagDirection = 'blue-to-green' | 'green-to-blue';

export interface LagSample {
  at: string;
  ms: number;
  direction: LagDirection;
}

/** The replication to watch now: whose acknowledged writes (by server port) must reach which server. */
export interface Followed {
  direction: LagDirection;
  /** `inet_server_port()` of the source's writer, as the load records it. */
  sourcePort: number;
  /** The follower's writer, on its own address (not through a security-group proxy). */
  follower: LoadAddress;
}

export interface LagSamplerOptions {
  /** The application's acknowledged writes so far, in the order they were acknowledged. */
  acknowledged: () => readonly AcknowledgedWrite[];
  /** The replication to watch now, or undefined when none could run. */
  follow: () => Followed | undefined;
  /** @default 250 */
  intervalMs?: number;
  /** @default 'app' */
  database?: string;
}

export interface LagSampler {
  samples(): LagSample[];
  /** Takes one sample now (the loop calls it; tests too). */
  sampleOnce(): Promise<LagSample | undefined>;
  stop(): Promise<void>;
}

/** The tables of the application's writes (the rogue clients' tables are not the application's). */
const APPLICATION_TABLES = new Set(['app.load_writes', 'app.seq_writes']);

export function startLagSampler(options: LagSamplerOptions): LagSampler {
  const intervalMs = options.intervalMs ?? 250;
  const database = options.database ?? 'app';
  const samples: LagSample[] = [];
  // Per direction: how far into the acknowledged writes it has looked, and what is still missing.
  const tracked = new Map<LagDirection, { cursor: number; pending: Map<string, PendingWrite> }>();
  let client: { address: string; session: Client } | undefined;
  let running = true;
  let busy: Promise<unknown> = Promise.resolve();

  const sessionFor = async (address: LoadAddress): Promise<Client> => {
    const key = `${address.host}:${address.port}`;
    if (client?.address === key) return client.session;
    await client?.session.end().catch(() => undefined);
    const session = new Client({
      host: address.host,
      port: address.port,
      database,
      user: SUPERUSER.username,
      password: SUPERUSER.password,
      application_name: 'rehearsal-lag',
      connectionTimeoutMillis: 2000,
      query_timeout: 2000,
    });
    session.on('error', () => undefined);
    client = { address: key, session };
    try {
      await session.connect();
    } catch (error) {
      client = undefined;
      throw error;
    }
    return session;
  };

  const sampleOnce = async (): Promise<LagSample | undefined> => {
    const followed = options.follow();
    if (!followed) return undefined;
    const state = tracked.get(followed.direction) ?? { cursor: 0, pending: new Map<string, PendingWrite>() };
    tracked.set(followed.direction, state);
    const acked = options.acknowledged();
    for (; state.cursor < acked.length; state.cursor++) {
      const w = acked[state.cursor] as AcknowledgedWrite;
      if (w.serverPort !== followed.sourcePort || !APPLICATION_TABLES.has(w.table)) continue;
      const pending = { table: w.table, id: w.id, at: Date.parse(w.at) };
      state.pending.set(writeKey(pending), pending);
    }
    const now = Date.now();
    try {
      const session = await sessionFor(followed.follower);
      const subscribed = await session.query<{ on: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subenabled) AS on',
      );
      if (!subscribed.rows[0]?.on) return undefined;
      const present = new Set<string>();
      for (const table of APPLICATION_TABLES) {
        const ids = [...state.pending.values()].filter((w) => w.table === table).map((w) => String(w.id));
        if (!ids.length) continue;
        const r = await session.query<{ id: string }>(
          `SELECT id::text AS id FROM ${table} WHERE id = ANY($1::bigint[])`,
          [ids],
        );
        for (const row of r.rows) present.add(writeKey({ table, id: Number(row.id) }));
      }
      const pending = [...state.pending.values()];
      const sample: LagSample = {
        at: new Date(now).toISOString(),
        ms: lagAt(now, pending, present),
        direction: followed.direction,
      };
      for (const key of present) state.pending.delete(key);
      samples.push(sample);
      return sample;
    } catch {
      // The follower restarts or is gone (an upgrade, a deletion): no sample this time.
      await client?.session.end().catch(() => undefined);
      client = undefined;
      return undefined;
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (!running) return;
    busy = sampleOnce().finally(() => {
      if (running) timer = setTimeout(tick, intervalMs);
    });
  };
  timer = setTimeout(tick, intervalMs);

  return {
    samples: () => samples,
    sampleOnce,
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      await busy.catch(() => undefined);
      await client?.session.end().catch(() => undefined);
      client = undefined;
    },
  };
}
