import type { Test } from 'tap';
import type { Browser } from 'playwright-core';

/** Debian's Chromium (CI installs it); TESSERA_TEST_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env.TESSERA_TEST_CHROMIUM || '/usr/bin/chromium';

/** Headless Chromium for one test file, closed at its end; quiet (no sync, no updates, no QUIC). */
export async function launchChromium(t: Test): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}
