import { BROWSER_CANDIDATES, findBrowser, installHint } from '../../local/browser';

describe('finding a browser for the page tests', () => {
  const only =
    (...present: string[]) =>
    (path: string) =>
      present.includes(path);

  it('CHROME_PATH wins over every installed browser', () => {
    expect(findBrowser({ CHROME_PATH: '/opt/chrome/chrome' }, only('/opt/chrome/chrome', '/usr/bin/chromium'))).toBe(
      '/opt/chrome/chrome',
    );
  });

  it('a CHROME_PATH that does not exist is an error naming it, not a silent fallback', () => {
    expect(() => findBrowser({ CHROME_PATH: '/nope/chrome' }, only('/usr/bin/chromium'))).toThrow(
      'CHROME_PATH is "/nope/chrome", which does not exist',
    );
  });

  it("finds Debian's chromium, Google Chrome, or the macOS application", () => {
    expect(findBrowser({}, only('/usr/bin/chromium'))).toBe('/usr/bin/chromium');
    expect(findBrowser({}, only('/usr/bin/google-chrome'))).toBe('/usr/bin/google-chrome');
    const mac = '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome';
    expect(BROWSER_CANDIDATES).toContain(mac);
    expect(findBrowser({}, only(mac))).toBe(mac);
    expect(findBrowser({}, only())).toBeUndefined();
  });

  it('the hint is one command for the platform', () => {
    expect(installHint('linux')).toMatch(/^sudo apt-get update && sudo apt-get install -y chromium/);
    expect(installHint('darwin')).toMatch(/^brew install --cask chromium/);
  });
});
