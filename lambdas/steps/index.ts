import type { ExecutionDocument } from '../domain/document';
import type { ValidateRequest } from '../domain/input';
import type { Ports } from '../ports';
import { addReplicas, checkReplicas } from './add-replicas';
import { blockWrites, checkWritesBlocked } from './block-writes';
import type { StepId } from './catalog';
import { checkFenceHeld } from './check-fence-held';
import { checkRestorable } from './check-restorable';
import { checkCnameTtl, lowerCnameTtl } from './cname-ttl';
import { checkClone, createClone } from './create-clone';
import { checkCname, checkGreenOpen, openGreen, swapCname } from './cutover';
import { checkBlueDeleted, deleteBlue } from './delete-blue';
import { checkGreenDiscarded, discardGreen } from './discard-green';
import { closeBlue } from './close-blue';
import { endBlueSessions } from './end-blue-sessions';
import {
  checkBlueCaughtUp,
  checkBlueReopened,
  checkGreenClosed,
  closeGreen,
  closeGreenToApplications,
  endGreenSessions,
  fenceGreen,
  moveBlueSequences,
  reopenBlue,
  startFailbackReplication,
  endFailbackReplication,
  stopFailbackReplication,
} from './failback';
import { fenceWrites } from './fence-writes';
import { guardGreen, unguardGreen } from './green-guard';
import { inspectBlue } from './inspect-blue';
import { checkGreenWriter, createGreenWriter } from './green-writer';
import { acquireLock, releaseLock } from './lock';
import { applySql } from './migrations';
import { postUpgrade } from './post-upgrade';
import { preflight } from './preflight';
import { report, reportFailure } from './report';
import { requestDecision } from './offer-failback';
import { readStoppedExecution } from './recover';
import { checkRollback, rollback, unfenceBlue } from './rollback';
import { smokeTest } from './smoke-test';
import { checkUpgrade, upgradeEngine } from './upgrade-engine';
import { validateInput } from './validate-input';
import { validateMigrations } from './validate-migrations';
import { verifyClone } from './verify-clone';
import {
  catchUpGreen,
  checkReplication,
  prepareGreenReplication,
  prepareReplication,
  removeReplication,
  startReplication,
  switchoverFence,
} from './replication-workflow';

/**
 * Every step by its id, as one function of (event, ports). The local rehearsal and the workflow
 * tests run the synthesized definition with these; in AWS each handler imports only its own step
 * (so a bundle carries only the clients it needs).
 */
export type StepFunction = (event: unknown, ports: Ports) => Promise<unknown>;

const doc = (e: unknown) => e as ExecutionDocument;

export const STEPS: Record<StepId, StepFunction> = {
  'validate-input': (e, p) => validateInput(e as ValidateRequest, p),
  preflight: (e, p) => preflight(doc(e), p),
  'validate-migrations': (e, p) => validateMigrations(doc(e), p),
  'acquire-lock': (e, p) => acquireLock(doc(e), p),
  'lower-cname-ttl': (e, p) => lowerCnameTtl(doc(e), p),
  'check-cname-ttl': (e, p) => checkCnameTtl(doc(e), p),
  'block-writes': (e, p) => blockWrites(doc(e), p),
  'check-writes-blocked': (e, p) => checkWritesBlocked(doc(e), p),
  'fence-writes': (e, p) => fenceWrites(doc(e), p),
  'check-restorable': (e, p) => checkRestorable(doc(e), p),
  'create-clone': (e, p) => createClone(doc(e), p),
  'check-clone': (e, p) => checkClone(doc(e), p),
  'create-green-writer': (e, p) => createGreenWriter(doc(e), p),
  'check-green-writer': (e, p) => checkGreenWriter(doc(e), p),
  'verify-clone': (e, p) => verifyClone(doc(e), p),
  'inspect-blue': (e, p) => inspectBlue(doc(e), p),
  'apply-sql': (e, p) => applySql(doc(e), p),
  'upgrade-engine': (e, p) => upgradeEngine(doc(e), p),
  'check-upgrade': (e, p) => checkUpgrade(doc(e), p),
  'post-upgrade': (e, p) => postUpgrade(doc(e), p),
  'add-replicas': (e, p) => addReplicas(doc(e), p),
  'check-replicas': (e, p) => checkReplicas(doc(e), p),
  'smoke-test': (e, p) => smokeTest(doc(e), p),
  // The approval Lambda: the cutover approval, or (payload kind 'failback') the failback offer.
  'request-approval': (e, p) => requestDecision(e as Parameters<typeof requestDecision>[0], p),
  'check-fence-held': (e, p) => checkFenceHeld(doc(e), p, 'before-open'),
  'guard-green': (e, p) => guardGreen(doc(e), p),
  'open-green': (e, p) => openGreen(doc(e), p),
  'unguard-green': (e, p) => unguardGreen(doc(e), p),
  'check-green-open': (e, p) => checkGreenOpen(doc(e), p),
  'swap-cname': (e, p) => swapCname(doc(e), p),
  'check-cname': (e, p) => checkCname(doc(e), p),
  'end-blue-sessions': (e, p) => endBlueSessions(doc(e), p),
  'close-blue': (e, p) => closeBlue(doc(e), p),
  'recheck-fence-held': (e, p) => checkFenceHeld(doc(e), p, 'before-delete'),
  'delete-blue': (e, p) => deleteBlue(doc(e), p),
  'check-blue-deleted': (e, p) => checkBlueDeleted(doc(e), p),
  'discard-green': (e, p) => discardGreen(doc(e), p),
  'check-green-discarded': (e, p) => checkGreenDiscarded(doc(e), p),
  'unfence-blue': (e, p) => unfenceBlue(doc(e), p),
  rollback: (e, p) => rollback(doc(e), p),
  'check-rollback': (e, p) => checkRollback(doc(e), p),
  'release-lock': (e, p) => releaseLock(doc(e), p),
  report: (e, p) => report(doc(e), p),
  'report-failure': (e, p) => reportFailure(doc(e) as ExecutionDocument & Record<string, unknown>, p),
  'read-stopped-execution': (e, p) => readStoppedExecution(e, p),
  'prepare-replication': (e, p) => prepareReplication(doc(e), p),
  'prepare-green-replication': (e, p) => prepareGreenReplication(doc(e), p),
  'start-replication': (e, p) => startReplication(doc(e), p),
  'check-replication': (e, p) => checkReplication(doc(e), p),
  'switchover-fence': (e, p) => switchoverFence(doc(e), p),
  'catch-up-green': (e, p) => catchUpGreen(doc(e), p),
  'remove-replication': (e, p) => removeReplication(doc(e), p),
  'start-failback-replication': (e, p) => startFailbackReplication(doc(e), p),
  'stop-failback-replication': (e, p) => stopFailbackReplication(doc(e), p),
  'end-failback-replication': (e, p) => endFailbackReplication(doc(e), p),
  'fence-green': (e, p) => fenceGreen(doc(e), p),
  'check-blue-caught-up': (e, p) => checkBlueCaughtUp(doc(e), p),
  'move-blue-sequences': (e, p) => moveBlueSequences(doc(e), p),
  'reopen-blue': (e, p) => reopenBlue(doc(e), p),
  'check-blue-reopened': (e, p) => checkBlueReopened(doc(e), p),
  'end-green-sessions': (e, p) => endGreenSessions(doc(e), p),
  'close-green-to-applications': (e, p) => closeGreenToApplications(doc(e), p),
  'check-green-closed': (e, p) => checkGreenClosed(doc(e), p),
  'close-green': (e, p) => closeGreen(doc(e), p),
};
