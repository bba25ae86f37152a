import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { z } from 'zod';
import { ApprovalWebAclStack } from './approval-waf';
import { approvalWafSchema, CONTEXT_KEY } from './config';

/**
 * The approval page's web ACL for a deployment outside us-east-1 (CloudFront takes only a web ACL
 * made there): `npm run deploy:approval-web-acl`, then set `approvalWaf.webAclArn` in cdk.json to
 * its `WebAclArn` output. It reads `account` and `approvalWaf` of the same configuration.
 */

/** Only what the web ACL needs: the rest of the configuration is checked by the main app. */
export const webAclConfigSchema = z.object({
  account: z.string().regex(/^\d{12}$/, 'a 12-digit AWS account id'),
  approvalWaf: approvalWafSchema,
});

export function webAclApp(app: App): ApprovalWebAclStack {
  const raw: unknown = app.node.tryGetContext(CONTEXT_KEY);
  const parsed = webAclConfigSchema.safeParse(typeof raw === 'string' ? JSON.parse(raw) : raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${[CONTEXT_KEY, ...i.path.map(String)].join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration in cdk.json context: ${problems.join('; ')}`);
  }
  const { account, approvalWaf } = parsed.data;
  return new ApprovalWebAclStack(app, 'AuroraBlueGreenApprovalWebAcl', {
    account,
    ...(approvalWaf.rateLimit !== undefined ? { rateLimit: approvalWaf.rateLimit } : {}),
    ...(approvalWaf.managedRules !== undefined ? { managedRules: approvalWaf.managedRules } : {}),
  });
}

if (require.main === module) {
  const app = new App();
  webAclApp(app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
}
