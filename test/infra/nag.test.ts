import { App, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { synthStack } from './fixture';

/** A violation as cdk-nag 3 reports it to CDK's validation framework. */
interface Violation {
  ruleName: string;
  violatingResources: { constructPath: string }[];
}

interface Acknowledgement {
  path: string;
  id: string;
  reason: string;
}

/** Every `Validations.of(x).acknowledge(...)` in the tree, with the construct it was made on. */
function acknowledgements(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

/** cdk-nag's findings as if nothing had been acknowledged. */
function rawFindings(app: App): Violation[] {
  const pack = new AwsSolutionsChecks();
  // The pack's private check, bypassed to see what each acknowledgement hides.
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return pack.validateScope(app).violations as Violation[];
}

let app: App;

beforeAll(() => {
  app = synthStack().app;
  // The same registration as infra/app.ts: synth fails on any unacknowledged finding.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
});

describe('cdk-nag AwsSolutionsChecks', () => {
  it('reports no unacknowledged finding', () => {
    const report = new AwsSolutionsChecks(app).validateScope(app);
    const findings = (report.violations as Violation[]).map(
      (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('gives every acknowledgement a specific reason, on the construct it concerns', () => {
    const acks = acknowledgements(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.reason.trim().length).toBeGreaterThanOrEqual(40);
      // Not on the app or the whole stack: each sits on the resource (or construct) it is about.
      expect(ack.path.split('/').length).toBeGreaterThanOrEqual(2);
      // A wildcard finding is acknowledged for the exact action or resource, never for the rule.
      if (ack.id.startsWith('AwsSolutions-IAM5'))
        expect(ack.id).toMatch(/^AwsSolutions-IAM5\[(Action|Resource)::.+\]$/);
    }
  });

  it('acknowledges nothing that cdk-nag would not otherwise report', () => {
    const raw = rawFindings(app);
    const stale = acknowledgements(app)
      .filter((ack) => ack.id.startsWith('AwsSolutions-'))
      .filter(
        (ack) =>
          !raw.some(
            (v) =>
              v.ruleName === ack.id &&
              v.violatingResources.some(
                (r) => r.constructPath === ack.path || r.constructPath.startsWith(`${ack.path}/`),
              ),
          ),
      )
      .map((ack) => `${ack.id} at ${ack.path}`);
    expect(stale).toEqual([]);
  });

  it('would report an unacknowledged wildcard (the check can fail)', () => {
    const other = new App();
    const stack = new Stack(other, 'Probe');
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['rds:DeleteDBCluster'], resources: ['*'] }));
    const report = new AwsSolutionsChecks(other).validateScope(other);
    expect((report.violations as Violation[]).map((v) => v.ruleName)).toContain('AwsSolutions-IAM5[Resource::*]');
  });

  it('names the exact no-resource-level actions in every Resource::* acknowledgement', () => {
    const wildcardAcks = acknowledgements(app).filter((ack) => ack.id === 'AwsSolutions-IAM5[Resource::*]');
    expect(wildcardAcks.length).toBeGreaterThan(0);
    const stepAcks = wildcardAcks.filter((ack) => /\/BlueGreen\/\w+Role$/.test(ack.path));
    expect(stepAcks.length).toBeGreaterThan(20);
    for (const ack of stepAcks) expect(ack.reason).toContain('xray:PutTraceSegments');
    const stateMachine = wildcardAcks.find((ack) => ack.path.includes('StateMachine/Role'));
    expect(stateMachine?.reason).toContain('logs:CreateLogDelivery');
    const fence = wildcardAcks.find((ack) => ack.path.endsWith('FenceWritesRole'));
    expect(fence?.reason).toContain('ec2:CreateNetworkInterface');
  });

  it('reports a wildcard on a write action that a step role gains later, instead of hiding it', () => {
    const { app: probe, stack } = synthStack();
    const role = stack.deployment.functions.get('Preflight')?.role;
    role?.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['rds:DeleteDBCluster'], resources: ['*'] }));
    probe.synth();
    const report = new AwsSolutionsChecks(probe).validateScope(probe);
    const wildcard = (report.violations as Violation[]).filter((v) => v.ruleName === 'AwsSolutions-IAM5[Resource::*]');
    expect(wildcard.flatMap((v) => v.violatingResources.map((r) => r.constructPath))).toEqual([
      expect.stringContaining('PreflightRole'),
    ]);
  });
});
