import fs from 'node:fs';
import path from 'node:path';
import type {
  ApproverSubscriptions,
  Clock,
  ExecutionRecord,
  Executions,
  Lock,
  MigrationFile,
  MigrationSource,
  Network,
  Notifier,
  SecurityGroupInfo,
} from '../../lambdas/ports';
import { awsFault } from './errors';

/** The S3 prefix the rehearsal's execution input names; it maps to the local migrations folder. */
export const LOCAL_MIGRATIONS_PREFIX = 's3://rehearsal/migrations/';

/** MigrationSource on a folder: the files directly in it (no sub-folders), in lexical order. */
export function folderMigrationSource(dir: string, prefix = LOCAL_MIGRATIONS_PREFIX): MigrationSource {
  return {
    async list(s3Prefix: string): Promise<MigrationFile[]> {
      const normalised = s3Prefix.endsWith('/') ? s3Prefix : `${s3Prefix}/`;
      if (!normalised.startsWith(prefix)) {
        throw awsFault(
          'NoSuchBucket',
          `the local rehearsal serves migrations only under ${prefix}`,
          `ListObjectsV2 ${s3Prefix}`,
        );
      }
      const folder = path.join(dir, normalised.slice(prefix.length));
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(folder, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []; // an empty S3 prefix
        throw error;
      }
      const names = entries
        .filter((e) => e.isFile())
        .map((e) => e.name)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return Promise.all(
        names.map(async (name) => ({
          name,
          bytes: new Uint8Array(await fs.promises.readFile(path.join(folder, name))),
        })),
      );
    },
  };
}

export interface MemoryLock extends Lock {
  /** Who holds the lock on `key` now (the report says whether the run left it held). */
  holder(key: string): string | undefined;
}

/** The Lock port in memory (the DynamoDB conditional put, with expiry). */
export function memoryLock(clock: Clock = realClock()): MemoryLock {
  const held = new Map<string, { owner: string; expiresAt: string }>();
  return {
    holder(key) {
      const current = held.get(key);
      return current && new Date(current.expiresAt).getTime() > clock.now().getTime() ? current.owner : undefined;
    },
    async acquire(key, owner, expiresAt) {
      const current = held.get(key);
      const expired = current !== undefined && new Date(current.expiresAt).getTime() <= clock.now().getTime();
      if (current && current.owner !== owner && !expired) return { acquired: false, heldBy: current.owner };
      held.set(key, { owner, expiresAt });
      return { acquired: true };
    },
    async release(key, owner) {
      if (held.get(key)?.owner === owner) held.delete(key);
    },
  };
}

export interface RecordingNotifier extends Notifier {
  readonly messages: { subject: string; message: string; at: string }[];
}

/** The Notifier port: keeps every message (the CLI prints them through `onPublish`). */
export function recordingNotifier(onPublish?: (subject: string, message: string) => void): RecordingNotifier {
  const messages: { subject: string; message: string; at: string }[] = [];
  return {
    messages,
    async publish(subject, message) {
      messages.push({ subject, message, at: new Date().toISOString() });
      onPublish?.(subject, message);
    },
  };
}

/** The approvers' topic the local cloud pretends to have (it names it in Preflight's messages only). */
export const LOCAL_APPROVERS_TOPIC_ARN = 'arn:aws:sns:local:000000000000:approvers';

/**
 * The approvers' subscriptions locally: the rehearsal's approver (the CLI, or the page it serves)
 * counts as one confirmed subscription unless told otherwise, confirmed with
 * `AuthenticateOnUnsubscribe` (every confirmed one is authenticated unless `authenticated` says less).
 */
export function localApprovers(confirmed = 1, pending = 0, authenticated = confirmed): ApproverSubscriptions {
  return {
    count: async () => ({
      topicArn: LOCAL_APPROVERS_TOPIC_ARN,
      confirmed,
      pending,
      authenticated: Math.min(authenticated, confirmed),
    }),
  };
}

export function realClock(): Clock {
  return {
    now: () => new Date(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}

/**
 * The local VPC's security groups: the admin group admits every port from itself (the admin path
 * and the CNAME proxies play the rules), the access group admits the application's loopback.
 */
export function localNetwork(
  adminSecurityGroupId: string,
  accessSecurityGroupId: string,
): Network & {
  groups: Map<string, SecurityGroupInfo>;
} {
  const groups = new Map<string, SecurityGroupInfo>([
    [
      adminSecurityGroupId,
      { id: adminSecurityGroupId, ingress: [{ protocol: '-1', sourceGroupIds: [adminSecurityGroupId], cidrs: [] }] },
    ],
    [
      accessSecurityGroupId,
      {
        id: accessSecurityGroupId,
        ingress: [{ protocol: 'tcp', fromPort: 0, toPort: 65535, sourceGroupIds: [], cidrs: ['127.0.0.1/32'] }],
      },
    ],
  ]);
  return {
    groups,
    async describeSecurityGroups(ids) {
      return ids.flatMap((id) => {
        const group = groups.get(id);
        return group ? [structuredClone(group)] : [];
      });
    },
  };
}

/**
 * Step Functions' record of executions, kept in memory: the local executor records each
 * execution it ran (its status and history, in the shape GetExecutionHistory gives), and the
 * recovery reads it back as it would in AWS.
 */
export class LocalExecutions implements Executions {
  private readonly records = new Map<string, ExecutionRecord>();

  record(execution: ExecutionRecord): void {
    this.records.set(execution.executionArn, structuredClone(execution));
  }

  async describe(executionArn: string): Promise<ExecutionRecord | undefined> {
    const found = this.records.get(executionArn);
    return found ? structuredClone(found) : undefined;
  }
}
