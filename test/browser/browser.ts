/**
 * A real browser for the web app's tests: Debian's chromium (installed by .ci/run) driven by
 * playwright-core, which downloads no browser of its own. Outside CI, a machine without chromium
 * skips these tests (`CHROMIUM_PATH` names another binary); in CI a missing browser fails them.
 *
 * `watch(page)` collects what must never happen on a page: uncaught errors, console errors (a
 * Content-Security-Policy or Trusted Types violation is one) and JavaScript dialogs (an injected
 * `alert(1)` would be one); the tests assert at the end that nothing was collected.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM_PATH);
/** Skip when there is no browser, except in CI, where that is a failure to install it. */
export const SKIP_BROWSER_TESTS = !HAS_CHROMIUM && process.env.CI !== 'true';

/**
 * Where the tests write a screenshot of each page: gitignored `.screenshots/` unless
 * SCREENSHOTS_DIR says otherwise (`SCREENSHOTS_DIR=docs/screenshots` refreshes the README's).
 */
export const SCREENSHOTS_DIR = process.env.SCREENSHOTS_DIR ?? '.screenshots';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface PageWatch {
  readonly errors: string[];
  readonly dialogs: string[];
}

export function watch(page: Page): PageWatch {
  const found: PageWatch = { errors: [], dialogs: [] };
  page.on('pageerror', (error) => found.errors.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !expectedConsoleError(message.text())) found.errors.push(`console: ${message.text()}`);
  });
  page.on('dialog', (dialog) => {
    found.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return found;
}

/**
 * Console errors the browser writes for answers the app handles itself: a refused request (the
 * API's 4xx, shown on the page in its own words) and an event stream cut while its edge restarts.
 */
function expectedConsoleError(text: string): boolean {
  return /^Failed to load resource: the server responded with a status of 4\d\d/.test(text) || /^Failed to load resource: net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING)/.test(text);
}

export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  await mkdir(SCREENSHOTS_DIR, { recursive: true });
  // Wait for the toast to go, so it does not cover the page.
  await page.locator('.toast p').waitFor({ state: 'detached', timeout: 6_000 }).catch(() => undefined);
  await page.screenshot({ path: join(SCREENSHOTS_DIR, `${name}.png`), fullPage: options.fullPage ?? true });
}

/**
 * Text whose colour does not reach WCAG AA contrast (4.5:1; 3:1 for large text) on its background:
 * the first opaque background among its ancestors. Disabled controls are exempt, as WCAG says.
 * Evaluated in the page as a string: the Node program does not load the DOM's types.
 */
export const LOW_CONTRAST_TEXT = `(() => {
  const rgb = (value) => (value.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const [R, G, B] = [r, g, b].map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  const background = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const color = rgb(getComputedStyle(node).backgroundColor);
      if (color.length === 3 || (color.length === 4 && color[3] === 1)) return color.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const element of document.querySelectorAll('body *')) {
    const own = [...element.childNodes].some((node) => node.nodeType === 3 && node.textContent.trim() !== '');
    if (!own || element.closest('[disabled], .visually-hidden') || element.getClientRects().length === 0) continue;
    const style = getComputedStyle(element);
    const fg = rgb(style.color).slice(0, 3);
    const [a, b] = [lum(fg), lum(background(element))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) found.push(element.tagName + ' "' + element.textContent.trim().slice(0, 40) + '" ' + ratio.toFixed(2));
  }
  return found;
})()`;
