import { PreconditionFailed } from '../../lambdas/domain/errors';
import { TASKS } from '../../lambdas/steps/catalog';
import { portsAllowedFor } from '../../local/workflow/permissions';
import { FakeCloud } from '../support/fake-cloud';

describe('portsAllowedFor: a local task may do what its IAM role allows, nothing more', () => {
  const cloud = new FakeCloud();
  cloud.addBlue('app-blue');

  it('lets a read-only check describe clusters', async () => {
    const ports = portsAllowedFor(TASKS.CheckClone, cloud.ports());
    await expect(ports.clusters.describeCluster('app-blue')).resolves.toMatchObject({ id: 'app-blue' });
  });

  it('refuses a call its catalog entry does not list, as AWS would, naming the state and the call', async () => {
    const ports = portsAllowedFor(TASKS.CheckClone, cloud.ports());
    const error = await ports.clusters.deleteCluster('app-blue').catch((e: Error) => e);
    expect(error).toBeInstanceOf(PreconditionFailed);
    expect((error as Error).message).toContain(`CheckClone's role does not allow clusters.deleteCluster`);
    expect((error as Error).message).toContain('its catalog entry does not list it');
    expect(cloud.clusters.has('app-blue')).toBe(true);
  });

  it.each([
    'cloneCopyOnWrite',
    'createInstance',
    'setSecurityGroups',
    'upgradeEngine',
    'setDeletionProtection',
    'deleteInstance',
    'deleteCluster',
  ] as const)('refuses clusters.%s to a task whose catalog entry does not list it', async (method) => {
    const clusters = portsAllowedFor(TASKS.CheckClone, cloud.ports()).clusters as unknown as Record<
      string,
      () => Promise<unknown>
    >;
    await expect(clusters[method]!()).rejects.toThrow(`does not allow clusters.${method}`);
  });

  it('refuses Route 53, the lock and the topic to a step that does not need them', async () => {
    const ports = portsAllowedFor(TASKS.CheckClone, cloud.ports());
    await expect(ports.dns.changeStatus('C1')).rejects.toThrow(/does not allow dns\.changeStatus/);
    await expect(ports.lock.release('app-blue', 'x')).rejects.toThrow(/does not allow lock\.release/);
    await expect(ports.notifier.publish('s', 'm')).rejects.toThrow(/does not allow notifier\.publish/);
  });

  it('lets a step call exactly the methods of its catalog entry, green-only ones included', async () => {
    const ports = portsAllowedFor(TASKS.OpenGreen, cloud.ports());
    // Locally the method is what counts; the green tag condition is AWS's (test/infra/iam-simulation.test.ts).
    await expect(ports.clusters.setSecurityGroups('app-blue', ['sg-1'])).resolves.toBeUndefined();
    await expect(ports.clusters.upgradeEngine({} as never)).rejects.toThrow(
      /OpenGreen's role does not allow clusters\.upgradeEngine/,
    );
    await expect(ports.dns.upsertCname('Z', 'r', 't', 5, 'c')).rejects.toThrow(/does not allow dns\.upsertCname/);
  });

  it('lets only the approval task store an approval', async () => {
    const denied = portsAllowedFor(TASKS.Report, cloud.ports());
    await expect(denied.approvals.store({} as never)).rejects.toThrow(/Report's role does not allow approvals\.store/);
  });
});
