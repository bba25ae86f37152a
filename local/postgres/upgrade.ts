import fs from 'node:fs';
import path from 'node:path';
import { binDirOf, findClientTools, majorOf } from './binaries';
import { chownTree, makeServerDir, runAsServerUser } from './os-user';
import { freePort, lastLines, PgServer, SUPERUSER, type ServerSettings } from './server';

/** How an engine upgrade was carried out locally (said plainly in the rehearsal's report). */
export type UpgradeMethod = 'restart-on-new-minor' | 'pg_upgrade' | 'dump-restore';

export interface MajorUpgradePlan {
  method: 'pg_upgrade' | 'dump-restore';
  /** Folder of the tools used (pg_upgrade, or pg_dumpall + psql). */
  toolsBinDir: string;
  description: string;
}

/**
 * The best real method this machine offers for a major upgrade, or undefined when it has none:
 * 1. pg_upgrade of the target major, with the tools both sides need next to the embedded servers;
 * 2. dump and restore with client tools whose pg_dumpall is at least the source major;
 * 3. nothing (the caller then says so and upgrades the minor version only).
 */
export function majorUpgradePlan(fromVersion: string, toVersion: string): MajorUpgradePlan | undefined {
  const fromMajor = majorOf(fromVersion);
  const toMajor = majorOf(toVersion);
  if (toMajor <= fromMajor) return undefined;
  const tools = findClientTools();
  const target = tools.find(
    (t) =>
      t.major === toMajor &&
      ['pg_upgrade', 'postgres', 'initdb', 'pg_ctl'].every((tool) => fs.existsSync(path.join(t.binDir, tool))),
  );
  const source = tools.find((t) => t.major === fromMajor && fs.existsSync(path.join(t.binDir, 'pg_controldata')));
  if (target && source) {
    return {
      method: 'pg_upgrade',
      toolsBinDir: target.binDir,
      description: `pg_upgrade ${toMajor} (${target.binDir}) from ${fromVersion} to ${toVersion}`,
    };
  }
  // pg_dump refuses servers newer than itself; it reads older servers and writes SQL the target accepts.
  const dumper = tools.find((t) => t.major >= fromMajor);
  if (dumper) {
    return {
      method: 'dump-restore',
      toolsBinDir: dumper.binDir,
      description: `pg_dumpall ${dumper.major} | psql into a new ${toVersion} server (${dumper.binDir})`,
    };
  }
  return undefined;
}

/** Stops the server and starts the same data folder on the newer minor's binaries. */
export async function upgradeMinor(server: PgServer, toVersion: string): Promise<UpgradeMethod> {
  if (majorOf(server.engineVersion) !== majorOf(toVersion)) {
    throw new Error(`${server.engineVersion} → ${toVersion} is not a minor upgrade`);
  }
  binDirOf(toVersion);
  await server.stop('fast');
  server.engineVersion = toVersion;
  await server.start();
  return 'restart-on-new-minor';
}

export interface MajorUpgradeOptions {
  /** Data folder of the upgraded server (must not exist). */
  newDataDir: string;
  /** Log file of the upgraded server. */
  logFile: string;
  /** Folder for the dump file and pg_upgrade's own files. */
  scratchDir: string;
  /** The settings of the cluster parameter group the upgraded server runs with. @default - none */
  clusterSettings?: ServerSettings;
}

/**
 * Major upgrade of a running server. The old server ends stopped (its folder is left for the
 * caller to remove); the returned server runs the new version on the old server's port.
 */
export async function upgradeMajor(
  server: PgServer,
  toVersion: string,
  options: MajorUpgradeOptions,
): Promise<{ server: PgServer; method: UpgradeMethod; description: string }> {
  const plan = majorUpgradePlan(server.engineVersion, toVersion);
  if (!plan) {
    throw new Error(`no major-upgrade method on this machine for ${server.engineVersion} → ${toVersion}`);
  }
  await makeServerDir(options.scratchDir, 0o755);
  const upgraded =
    plan.method === 'dump-restore'
      ? await dumpRestore(server, toVersion, plan, options)
      : await pgUpgrade(server, toVersion, plan, options);
  return { server: upgraded, method: plan.method, description: plan.description };
}

async function dumpRestore(
  server: PgServer,
  toVersion: string,
  plan: MajorUpgradePlan,
  options: MajorUpgradeOptions,
): Promise<PgServer> {
  const port = server.port;
  // Roles come from the dump, so the new server gets no replicator of its own.
  const target = await PgServer.initialize({
    dataDir: options.newDataDir,
    port: await freePort(),
    engineVersion: toVersion,
    logFile: options.logFile,
    createReplicator: false,
    ...(options.clusterSettings ? { clusterSettings: options.clusterSettings } : {}),
  });
  try {
    // A connection option outranks a database's own default (a fenced database is read-only by default).
    const env = {
      PGPASSWORD: SUPERUSER.password,
      PGCONNECT_TIMEOUT: '10',
      PGOPTIONS: '-c default_transaction_read_only=off',
    };
    const dumpFile = path.join(options.scratchDir, 'dumpall.sql');
    const toolLog = path.join(options.scratchDir, 'dump-restore.log');
    const dump = await runAsServerUser(
      path.join(plan.toolsBinDir, 'pg_dumpall'),
      ['-h', '127.0.0.1', '-p', String(server.port), '-U', SUPERUSER.username, '-f', dumpFile],
      { logFile: toolLog, env, asServerUser: false },
    );
    if (dump.code !== 0) throw new Error(`pg_dumpall failed: ${lastLines(dump.output)}`);
    // No new writes may reach the old server from now on: stop it before restoring.
    await server.stop('fast');
    const restore = await runAsServerUser(
      path.join(plan.toolsBinDir, 'psql'),
      [
        '-X',
        '-q',
        '-h',
        '127.0.0.1',
        '-p',
        String(target.port),
        '-U',
        SUPERUSER.username,
        '-d',
        'postgres',
        '-f',
        dumpFile,
      ],
      { logFile: toolLog, env, asServerUser: false },
    );
    // The only error a dump of a whole cluster must produce here: the superuser already exists.
    const errors = restore.output
      .split('\n')
      .filter((line) => /\bERROR:/.test(line) && !/role "postgres" already exists/.test(line));
    if (restore.code !== 0 || errors.length > 0) {
      throw new Error(
        `restore into ${toVersion} failed: ${errors.slice(0, 3).join(' | ') || lastLines(restore.output)}`,
      );
    }
    await fs.promises.rm(dumpFile, { force: true });
    await target.stop('fast');
    target.port = port;
    await target.start();
    return target;
  } catch (error) {
    await target.stop('immediate').catch(() => undefined);
    if (!server.isRunning) await server.start().catch(() => undefined);
    throw error;
  }
}

/**
 * pg_upgrade insists that the new side's `postgres` is exactly its own build, so the new cluster
 * is initialised and upgraded with the machine's server binaries of the target major; the result
 * then runs on the embedded binaries of the same major (same catalog version). The old side is
 * the embedded server plus the machine's pg_controldata of that major, when there is one.
 */
export async function pgUpgrade(
  server: PgServer,
  toVersion: string,
  plan: MajorUpgradePlan,
  options: MajorUpgradeOptions,
): Promise<PgServer> {
  const oldBin = await composeBinDir(
    path.join(options.scratchDir, 'old-bin'),
    server.binDir,
    findClientTools().find((t) => t.major === majorOf(server.engineVersion))?.binDir,
  );
  const newBin = plan.toolsBinDir;
  // The old server still listens on its port: initialise the new one elsewhere, move it later.
  const port = server.port;
  const target = await PgServer.initialize({
    dataDir: options.newDataDir,
    port: await freePort(),
    engineVersion: toVersion,
    logFile: options.logFile,
    binDir: newBin,
    createReplicator: false,
    ...(options.clusterSettings ? { clusterSettings: options.clusterSettings } : {}),
  });
  await target.stop('fast');
  target.port = port;
  target.binDirOverride = undefined;
  await server.stop('fast');
  await chownTree(options.scratchDir);
  const result = await runAsServerUser(
    path.join(newBin, 'pg_upgrade'),
    ['-b', oldBin, '-B', newBin, '-d', server.dataDir, '-D', options.newDataDir, '-U', SUPERUSER.username, '--link'],
    {
      logFile: path.join(options.scratchDir, 'pg_upgrade.log'),
      cwd: options.scratchDir,
      env: { PGPASSWORD: SUPERUSER.password },
    },
  );
  if (result.code !== 0) {
    await server.start().catch(() => undefined);
    throw new Error(
      `pg_upgrade failed (see ${path.join(options.scratchDir, 'pg_upgrade.log')}): ${lastLines(result.output)}`,
    );
  }
  await target.start();
  return target;
}

async function composeBinDir(dir: string, serverBin: string, toolsBin: string | undefined): Promise<string> {
  await fs.promises.mkdir(dir, { recursive: true });
  const link = async (from: string): Promise<void> => {
    for (const name of await fs.promises.readdir(from)) {
      const target = path.join(dir, name);
      if (!fs.existsSync(target)) await fs.promises.symlink(path.join(from, name), target);
    }
  };
  await link(serverBin); // the embedded server binaries win
  if (toolsBin) await link(toolsBin);
  return dir;
}
