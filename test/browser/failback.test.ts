import type { Browser } from 'playwright-core';
import { startApprovalServer, type ApprovalServer } from '../../local/approval-server';
import { RecordingDecisions, requestFailbackLink, TASK_TOKEN } from '../unit/approval/fixtures';
import { launchTestBrowser } from '../support/browser';

/**
 * The failback page (docs/failback.md) in a real browser, served by the local approval server
 * the rehearsal uses: opening the link decides nothing; "Fail back to blue" needs blue's id typed
 * and sends exactly one success with `decision: failback`; a reload shows it decided.
 */

describe('failback page in headless chromium', () => {
  let browser: Browser;
  let server: ApprovalServer;
  let decisions: RecordingDecisions;

  beforeAll(async () => {
    browser = await launchTestBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    decisions = new RecordingDecisions();
    server = await startApprovalServer({ decisions });
  });

  afterEach(async () => {
    await server?.close();
  });

  const offerOne = (): Promise<string> =>
    requestFailbackLink(server.approvals, {
      failbackReplication: { databases: ['app'], startedAt: new Date().toISOString() },
    });

  it('open the link, nothing decided; Fail back needs blue typed, sends one success; a reload shows it decided', async () => {
    const link = await offerOne();
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });

    const opened = await page.goto(link);
    expect(opened?.status()).toBe(200);
    expect(await page.locator('h1').textContent()).toBe('Fail back to orders-prod?');
    expect(await page.locator('body').textContent()).toContain('Nothing has been decided yet');
    expect(await page.locator('form').count()).toBe(1);
    expect(decisions.sent).toHaveLength(0);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);

    // The browser refuses the empty confirmation: nothing is sent.
    await page.getByRole('button', { name: 'Fail back to blue' }).click();
    expect(await page.evaluate<boolean>('document.querySelector("#failback-confirm").validity.valueMissing')).toBe(
      true,
    );
    expect(decisions.sent).toHaveLength(0);

    await page.getByLabel(/blue’s cluster id/).fill('orders-prod');
    await Promise.all([page.waitForURL(link), page.getByRole('button', { name: 'Fail back to blue' }).click()]);
    await page.waitForLoadState('load');
    expect(decisions.sent).toHaveLength(1);
    expect(decisions.sent[0]).toMatchObject({
      kind: 'success',
      taskToken: TASK_TOKEN,
      output: { decision: 'failback' },
    });
    expect(await page.locator('h1').textContent()).toBe('Failback to blue was decided');

    const reloaded = await page.reload();
    expect(reloaded?.status()).toBe(410);
    expect(await page.locator('form').count()).toBe(0);
    expect(decisions.sent).toHaveLength(1);
    expect(await page.content()).not.toContain(TASK_TOKEN);
    expect(cspViolations).toEqual([]);
    await context.close();
  });
});
