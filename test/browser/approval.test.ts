import type { Browser } from 'playwright-core';
import { startApprovalServer, type ApprovalServer } from '../../local/approval-server';
import { RecordingDecisions, requestApprovalEmail, TASK_TOKEN } from '../unit/approval/fixtures';
import { launchTestBrowser } from '../support/browser';

/**
 * The approval page in a real browser: Chrome or Chromium (local/browser.ts) driven by
 * playwright-core, against the handler served over HTTP on 127.0.0.1. A missing browser fails
 * this test (it never skips); `npm test`'s pretest step installs one where it can.
 */

describe('approval page in headless chromium', () => {
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

  async function requestOne(): Promise<{ link: string; email: string }> {
    const { email } = await requestApprovalEmail(server.approvals);
    return { link: /http:\/\/127\.0\.0\.1:\d+\/approvals\/\S+/.exec(email)![0], email };
  }

  it('open the link, nothing decided; Approve sends exactly one success; a reload shows it decided', async () => {
    const { link } = await requestOne();
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });

    const opened = await page.goto(link);
    expect(opened?.status()).toBe(200);
    await expect(page.locator('h1').textContent()).resolves.toContain('Approve the cutover of orders-prod');
    expect(await page.locator('body').textContent()).toContain('Nothing has been decided yet');
    expect(decisions.sent).toHaveLength(0);
    expect(server.store.all()[0]!.status).toBe('pending');
    // The stylesheet is allowed by its hash: the buttons are styled, nothing was blocked.
    const background = await page.evaluate<string>(
      'getComputedStyle(document.querySelector("button.approve")).backgroundColor',
    );
    expect(background).toBe('rgb(26, 127, 55)');
    // Mobile-friendly: the page is not wider than the phone.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);

    // Approving needs blue's id typed: the browser refuses the empty field, nothing is sent.
    await page.getByRole('button', { name: 'Approve cutover' }).click();
    expect(await page.evaluate<boolean>('document.querySelector("#approve-confirm").validity.valueMissing')).toBe(true);
    expect(decisions.sent).toHaveLength(0);
    // A wrong id reaches the server, which refuses it and decides nothing.
    await page.locator('#approve-confirm').fill('orders-pro');
    await Promise.all([page.waitForURL(link), page.getByRole('button', { name: 'Approve cutover' }).click()]);
    expect(await page.locator('h1').textContent()).toBe('Type blue’s cluster id to approve');
    expect(decisions.sent).toHaveLength(0);
    await page.goto(link);

    await page.getByLabel(/blue’s cluster id/).fill('orders-prod');
    await Promise.all([page.waitForURL(link), page.getByRole('button', { name: 'Approve cutover' }).click()]);
    await page.waitForLoadState('load');

    expect(decisions.sent).toHaveLength(1);
    expect(decisions.sent[0]).toMatchObject({
      kind: 'success',
      taskToken: TASK_TOKEN,
      output: { decision: 'approve' },
    });
    expect(decisions.sent[0]!.output!.userAgent).toMatch(/Chrome/);
    expect(await page.locator('h1').textContent()).toBe('This cutover was approved');

    const reloaded = await page.reload();
    expect(reloaded?.status()).toBe(410);
    expect(await page.locator('h1').textContent()).toBe('This cutover was approved');
    expect(await page.locator('body').textContent()).toContain('Already decided');
    expect(await page.locator('form').count()).toBe(0);
    expect(decisions.sent).toHaveLength(1);
    expect(await page.content()).not.toContain(TASK_TOKEN);
    expect(cspViolations).toEqual([]);
    await context.close();
  });

  it('Reject needs a reason, then sends ApprovalRejected with it', async () => {
    const { link } = await requestOne();
    const page = await browser.newPage();
    await page.goto(link);

    // The browser itself refuses an empty reason (required field): nothing is sent.
    await page.getByRole('button', { name: 'Reject and roll back' }).click();
    expect(await page.evaluate<boolean>('document.querySelector("#reject-reason").validity.valueMissing')).toBe(true);
    expect(decisions.sent).toHaveLength(0);

    await page.locator('#reject-reason').fill('Row counts differ on orders');
    await Promise.all([page.waitForURL(link), page.getByRole('button', { name: 'Reject and roll back' }).click()]);
    await page.waitForLoadState('load');

    expect(decisions.sent).toEqual([
      { kind: 'failure', taskToken: TASK_TOKEN, error: 'ApprovalRejected', cause: 'Row counts differ on orders' },
    ]);
    expect(await page.locator('h1').textContent()).toBe('This cutover was rejected');
    await page.close();
  });
});
