import { ensureBrowser } from '../local/browser';

/** `npm test` runs this first: the page tests need a real browser (see local/browser.ts). */
try {
  const browser = ensureBrowser();
  console.log(`browser for the page tests: ${browser}`);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
