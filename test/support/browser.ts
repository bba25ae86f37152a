import { chromium, type Browser } from 'playwright-core';
import { findBrowser, installHint } from '../../local/browser';

/**
 * The headless Chrome or Chromium the page tests drive (local/browser.ts finds it). A missing
 * browser fails the test that asks for one (it never skips); `npm test`'s pretest step installs
 * one where it can. The flags keep it offline: no background traffic, QUIC, updates or sync.
 */
export async function launchTestBrowser(): Promise<Browser> {
  const executablePath = findBrowser();
  if (!executablePath) throw new Error(`No Chrome or Chromium found for the page tests. Install one: ${installHint()}`);
  return chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-quic',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
