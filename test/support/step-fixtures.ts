import type { ExecutionDocument, PollState } from '../../lambdas/domain/document';
import type { Defaults, DeploymentInput, RawInput } from '../../lambdas/domain/input';
import { parseInput } from '../../lambdas/domain/input';
import type { Cluster, Instance } from '../../lambdas/ports';
import { checkClone, createClone } from '../../lambdas/steps/create-clone';
import { checkGreenWriter, createGreenWriter } from '../../lambdas/steps/green-writer';
import { preflight } from '../../lambdas/steps/preflight';
import { ADMIN_SG, FakeCloud, RECORD, ZONE } from './fake-cloud';

/** Execution documents for the control-plane step tests, built the way ValidateInput and Preflight build them. */

export const EXECUTION = {
  id: 'arn:aws:states:eu-west-1:123456789012:execution:bluegreen:unit-1',
  name: 'unit-1',
  startTime: '2026-12-05T02:00:00.000Z',
};
export const BLUE = 'app-blue';
/** deriveGreenClusterId(BLUE, EXECUTION.startTime). */
export const GREEN = 'app-blue-g261205020000';

export const DEFAULTS: Defaults = {
  pollIntervalSeconds: 1,
  maxPolls: 20,
  checkWindowSeconds: 0,
  checkEveryMs: 1000,
  approvalTimeoutSeconds: 3600,
  blueRetentionSeconds: 0,
  cutoverTtlSeconds: 5,
  replicaCount: 0,
  lockTimeoutMs: 5000,
  statementTimeoutMs: 60000,
  clusterIdPrefix: 'app-',
  adminSecurityGroupId: ADMIN_SG,
  allowDeletionProtectionOff: false,
  hostedZoneId: ZONE,
  recordName: RECORD,
  // The test deployment passes an Enhanced Monitoring role (Preflight refuses a monitored blue without one).
  monitoringRoleConfigured: true,
  clusterRoleArns: [],
};

export type RawOverrides = Partial<RawInput>;

export function stepInput(raw: RawOverrides = {}, defaults: Partial<Defaults> = {}): DeploymentInput {
  return parseInput({
    raw: { blueClusterId: BLUE, ...raw },
    defaults: { ...DEFAULTS, ...defaults },
    execution: EXECUTION,
  });
}

/** The document as ValidateInput leaves it (no $.blue yet). */
export function stepDocument(raw: RawOverrides = {}, defaults: Partial<Defaults> = {}): ExecutionDocument {
  return { input: stepInput(raw, defaults) };
}

/** The document after Preflight ran against `cloud` (throws what Preflight throws). */
export async function preflighted(
  cloud: FakeCloud,
  raw: RawOverrides = {},
  defaults: Partial<Defaults> = {},
): Promise<ExecutionDocument> {
  const doc = stepDocument(raw, defaults);
  doc.blue = await preflight(doc, cloud.ports());
  return doc;
}

/** A fake cloud holding blue on PostgreSQL 16.4, where each control-plane step test starts. */
export function cloudWithBlue(): FakeCloud {
  const cloud = new FakeCloud();
  cloud.addBlue(BLUE, '16.4');
  return cloud;
}

export interface StepHelpers {
  /** The cluster `id` in the current cloud (throws when there is none). */
  cluster(id: string): Cluster;
  /** The instance `id` in the current cloud (throws when there is none). */
  instance(id: string): Instance;
  /** Preflight, then CreateClone and CheckClone until green is available. */
  withGreen(raw?: RawOverrides): Promise<ExecutionDocument>;
  /** ... and green's writer, created and polled until available. */
  withGreenWriter(raw?: RawOverrides): Promise<ExecutionDocument>;
}

/**
 * Lookups and run-up helpers bound to the test file's current cloud; `current` is read at each call,
 * so a `let cloud` reassigned in beforeEach works.
 */
export function stepHelpers(current: () => FakeCloud): StepHelpers {
  const helpers: StepHelpers = {
    cluster(id) {
      const found = current().clusters.get(id);
      if (!found) throw new Error(`no cluster ${id} in the fake cloud`);
      return found;
    },
    instance(id) {
      const found = current().instances.get(id);
      if (!found) throw new Error(`no instance ${id} in the fake cloud`);
      return found;
    },
    async withGreen(raw = {}) {
      const cloud = current();
      const doc = await preflighted(cloud, raw);
      doc.green = await createClone(doc, cloud.ports());
      await pollUntilDone(doc, 'clone', (d) => checkClone(d, cloud.ports()));
      return doc;
    },
    async withGreenWriter(raw = {}) {
      const cloud = current();
      const doc = await helpers.withGreen(raw);
      doc.writer = await createGreenWriter(doc, cloud.ports());
      await pollUntilDone(doc, 'writer', (d) => checkGreenWriter(d, cloud.ports()));
      return doc;
    },
  };
  return helpers;
}

/**
 * Runs a check the way the state machine's Check → Choice → Wait loop does: the result goes to
 * `$.wait[key]` and the loop ends when it is done (PollTimeout from the check ends it otherwise).
 */
export async function pollUntilDone(
  doc: ExecutionDocument,
  key: string,
  check: (doc: ExecutionDocument) => Promise<PollState>,
): Promise<PollState[]> {
  const states: PollState[] = [];
  for (;;) {
    const state = await check(doc);
    states.push(state);
    doc.wait = { ...doc.wait, [key]: state };
    if (state.done) return states;
  }
}

/** Captures a rejection so a test can assert on its class, name and sentence. */
export async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`expected an Error, got ${String(error)}`);
  }
  throw new Error('expected the promise to reject, but it resolved');
}
