import { existsSync } from 'node:fs';

/** Debian's Chromium (`apt-get install -y chromium`), or another build via CHROMIUM_PATH; playwright-core never downloads one. */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = process.env.CI === 'true';

/**
 * `describe` for a suite that drives Chromium: skipped (with a warning) locally when it is missing, but
 * run in CI (CI=true), where the missing browser fails it — call `requireChromium()` in its beforeAll.
 */
export function describeInBrowser(file: string): jest.Describe {
  if (!HAVE_CHROMIUM && !IN_CI) {
    console.warn(
      `Skipping ${file}: Chromium is not installed at ${CHROMIUM}. ` +
        'Install it with `apt-get install -y chromium` (Debian/Ubuntu). In CI (CI=true) this suite fails instead of skipping.',
    );
  }
  return HAVE_CHROMIUM || IN_CI ? describe : describe.skip;
}

export function requireChromium(): void {
  if (!HAVE_CHROMIUM) throw new Error(`Chromium is required in CI but ${CHROMIUM} does not exist: apt-get install -y chromium`);
}
