import type { ExecutionDocument } from '../../lambdas/domain/document';
import type { DeploymentInput } from '../../lambdas/domain/input';
import type { Clock, Cluster, Clusters } from '../../lambdas/ports';
import { createPgDatabase } from '../../lambdas/aws/pg-database';
import type { TestServer } from './postgres';

/** Execution-document fixtures for the database steps, so tests stay short. */

export const BLUE_ID = 'orders-prod';
export const GREEN_ID = 'orders-prod-g2612050200';

export function makeInput(overrides: Partial<DeploymentInput> = {}): DeploymentInput {
  return {
    executionId: 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:test-1',
    executionName: 'test-1',
    startedAt: '2026-12-05T02:00:00.000Z',
    blueClusterId: BLUE_ID,
    greenClusterId: GREEN_ID,
    replicaCount: 0,
    smokeTests: [],
    cname: { hostedZoneId: 'Z123', recordName: 'db.example.internal', cutoverTtlSeconds: 5 },
    approval: { timeoutSeconds: 3600 },
    blueRetentionSeconds: 0,
    pollIntervalSeconds: 1,
    maxPolls: 10,
    checkWindowSeconds: 0,
    checkEveryMs: 1000,
    writeBlock: 'security-group',
    keepGreenOnFailure: false,
    dryRun: false,
    mode: 'offline',
    failback: false,
    replication: { maxLagBytes: 1_048_576 },
    adminSecurityGroupId: 'sg-admin',
    allowDeletionProtectionOff: false,
    clusterIdPrefix: 'orders-',
    monitoringRoleConfigured: false,
    clusterRoleArns: [],
    ...overrides,
  };
}

/** A document whose blue is `blue` (a test server) and whose green, if given, is `green`'s cluster id. */
export function makeDocument(
  blue: Pick<TestServer, 'host' | 'port'>,
  overrides: Partial<Omit<ExecutionDocument, 'input'>> & { input?: Partial<DeploymentInput> } = {},
): ExecutionDocument {
  const { input, ...rest } = overrides;
  return {
    input: makeInput(input),
    blue: {
      id: BLUE_ID,
      endpoint: blue.host,
      port: blue.port,
      engineVersion: '16.14',
      accessSecurityGroupIds: ['sg-app'],
      originalSecurityGroupIds: ['sg-app', 'sg-admin'],
      iamAuth: false,
      logExports: ['postgresql'],
      deletionProtection: true,
      writer: { instanceId: `${BLUE_ID}-writer`, instanceClass: 'db.r6g.large', performanceInsights: false },
      readerInstanceIds: [],
      availabilityZones: ['eu-west-1a'],
      cname: { target: `${BLUE_ID}.cluster-x.eu-west-1.rds.amazonaws.com`, ttl: 5 },
    },
    green: {
      id: GREEN_ID,
      writerInstanceId: `${GREEN_ID}-writer`,
      requestedAt: '2026-12-05T02:05:00.000Z',
      reused: false,
    },
    ...rest,
  };
}

function notUsed(name: string): () => never {
  return () => {
    throw new Error(`Clusters.${name} is not used by the database steps' tests`);
  };
}

/** A Clusters stub that only answers describeCluster, with the test servers' addresses. */
export function clustersStub(servers: Record<string, Pick<TestServer, 'host' | 'port'>>): Clusters {
  const describeCluster = async (id: string): Promise<Cluster | undefined> => {
    const server = servers[id];
    if (!server) return undefined;
    return {
      id,
      status: 'available',
      engine: 'aurora-postgresql',
      engineVersion: '16.14',
      endpoint: server.host,
      port: server.port,
      securityGroups: [{ id: 'sg-admin', status: 'active' }],
      iamAuth: false,
      logExports: [],
      deletionProtection: false,
      members: [{ instanceId: `${id}-writer`, isWriter: true }],
      tags: {},
      pendingModifications: false,
      availabilityZones: ['eu-west-1a'],
    };
  };
  return {
    describeCluster,
    describeInstance: notUsed('describeInstance'),
    validUpgradeTargets: notUsed('validUpgradeTargets'),
    parameterGroupFamilyOf: notUsed('parameterGroupFamilyOf'),
    clusterParameterGroupFamily: notUsed('clusterParameterGroupFamily'),
    clusterParameterValue: notUsed('clusterParameterValue'),
    instanceParameterGroupFamily: notUsed('instanceParameterGroupFamily'),
    cloneCopyOnWrite: notUsed('cloneCopyOnWrite'),
    createInstance: notUsed('createInstance'),
    setSecurityGroups: notUsed('setSecurityGroups'),
    addRole: notUsed('addRole'),
    manageMasterUserPassword: notUsed('manageMasterUserPassword'),
    upgradeEngine: notUsed('upgradeEngine'),
    setDeletionProtection: notUsed('setDeletionProtection'),
    deleteInstance: notUsed('deleteInstance'),
    deleteCluster: notUsed('deleteCluster'),
    describeClusterSnapshot: notUsed('describeClusterSnapshot'),
    clusterEvents: notUsed('clusterEvents'),
  };
}

export const realClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The real pg adapter as the local rehearsal uses it: static credentials, no TLS. */
export function testDatabase() {
  return createPgDatabase({
    credentials: async () => ({ username: 'postgres', password: 'unused-with-trust-auth' }),
    ssl: false,
    connectTimeoutMs: 5_000,
  });
}
