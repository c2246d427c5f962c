/**
 * The web app in a real browser against the system as `npm run dev` runs it: one process with
 * every role, the in-process sandbox provider (PROVIDERS=sandbox: made-up output at $0) and the
 * local sign-in; lines paced at 30 a minute so that a run can be cancelled while it runs.
 *
 * What a person must be able to count on: the page says "sandbox" and $0 where it applies, a bad
 * file shows its problem in the API's own words, a lead whose company holds HTML is shown as text,
 * a run can be cancelled, the page works at a phone's width and from the keyboard, and another
 * user sees none of the first user's campaigns, runs or leads, even with their addresses.
 */
import { writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useProcessDeployment } from '../support/processes.ts';
import { launchBrowser, LOW_CONTRAST_TEXT, screenshot, SKIP_BROWSER_TESTS, watch, type PageWatch } from './browser.ts';

const INJECTION = '<img src=x onerror=alert(1)>';

/** A company and an email as long as real ones get: they must wrap, not push the line and its buttons out of view. */
const LONG_COMPANY = 'The Extraordinarily Long-Named International Consolidated Holdings & Subsidiaries of Greater Metropolitan Area Incorporated Limited';
const LONG_EMAIL = 'maximilianaalexandrinawolfeschlegelsteinhausenbergerdorff@extraordinarily-long-named-international-consolidated-holdings.example';

const LEADS = [
  'Email,First Name,Company,Title,Website',
  'mia.lopez@harbor-freight-ai.example,Mia,Harbor Freight AI,Head of Sales,https://harbor-freight-ai.example',
  `noah.kim@injected.example,Noah,${INJECTION},CTO,https://injected.example`,
  'olga.ivanova@steppe-solar.example,Olga,Steppe Solar,COO,https://steppe-solar.example',
  `${LONG_EMAIL},Maximiliana,"${LONG_COMPANY}",Chief Executive Officer,https://extraordinarily-long-named-international-consolidated-holdings.example`,
].join('\n');

/** Enough leads, paced at 30 lines a minute, for a run to be cancelled while it runs. */
const LONG_RUN = ['Email,Company', ...Array.from({ length: 12 }, (_, i) => `buyer${i}@company-${i}.example,Company ${i}`)].join('\n');

describe.skipIf(SKIP_BROWSER_TESTS)('the web app in Chromium on the sandbox: labels, errors, injection, cancel, phone width, keyboard, other users', () => {
  const deployment = useProcessDeployment({
    vars: { PROVIDERS: 'sandbox', PERPLEXITY_API_KEY: '', OPENROUTER_API_KEY: '', PERPLEXITY_BASE_URL: '', OPENROUTER_BASE_URL: '', LOCAL_SIGN_IN: 'true', PERSONALIZATION_RPM: '30', LOG_LEVEL: 'error' },
  });
  let browser: Browser;
  let page: Page;
  let seen: PageWatch;
  const files = { leads: '', longRun: '', pdf: '' };
  let campaignUrl = '';
  let runUrl = '';

  beforeAll(async () => {
    const dir = tmpdir();
    files.leads = join(dir, `sandbox-leads-${process.pid}.csv`);
    files.longRun = join(dir, `long-run-${process.pid}.csv`);
    files.pdf = join(dir, `leads-${process.pid}.csv`);
    await writeFile(files.leads, LEADS);
    await writeFile(files.longRun, LONG_RUN);
    await writeFile(files.pdf, '%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n');
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    seen = watch(page);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  /** Signs in as a local user from the keyboard alone: Tab to the name, type it, Enter. */
  async function signIn(target: Page, name: string): Promise<void> {
    await target.goto(deployment.current.baseUrl);
    const field = target.getByLabel('Local user name');
    await field.waitFor();
    await field.focus();
    await field.fill(name);
    await target.keyboard.press('Enter');
    await target.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
  }

  it('signs in from the keyboard, focus visible, and says the providers are the sandbox', async () => {
    await page.goto(deployment.current.baseUrl);
    await page.getByLabel('Local user name').waitFor();
    // The page's heading has the focus (a screen reader starts there); Tab goes on to the form.
    const focused = page.locator(':focus');
    expect(await focused.textContent()).toBe('Sign in');
    await page.keyboard.press('Tab');
    expect(await focused.getAttribute('id')).toBe('local-name');
    expect(await focused.evaluate((element) => element.ownerDocument.defaultView.getComputedStyle(element).outlineStyle)).not.toBe('none');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('ada');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
    // The new page's heading has the focus, so a screen reader starts there.
    expect(await page.locator(':focus').evaluate((element) => element.tagName)).toBe('H1');
    expect(await page.locator('.top .badge.sandbox').textContent()).toBe('Sandbox: made-up output, $0');
    // "Skip to content" moves the focus to the content; its #main is not taken for an address.
    const address = page.url();
    await page.locator('.skip-link').focus();
    await page.keyboard.press('Enter');
    expect(await page.locator(':focus').getAttribute('id')).toBe('main');
    expect(page.url()).toBe(address);
    expect(await page.getByRole('heading', { name: 'Campaigns', level: 1 }).isVisible()).toBe(true);
  });

  it('enforces its policy: no string becomes markup or script, no other Trusted Types policy', async () => {
    // On a page of its own: each refusal is also a console error, which the other pages must not have.
    const probe = await browser.newPage();
    await probe.goto(deployment.current.baseUrl);
    await probe.getByLabel('Local user name').waitFor();
    const outcomes = await probe.evaluate(`(() => {
      const attempt = (what) => { try { what(); return 'allowed'; } catch (error) { return error.name; } };
      return {
        innerHTML: attempt(() => { document.createElement('div').innerHTML = '<img src=x>'; }),
        insertAdjacentHTML: attempt(() => document.body.insertAdjacentHTML('beforeend', '<b>x</b>')),
        scriptText: attempt(() => { document.createElement('script').textContent = 'alert(1)'; }),
        scriptSrc: attempt(() => { document.createElement('script').src = 'data:text/javascript,alert(1)'; }),
        otherPolicy: attempt(() => trustedTypes.createPolicy('attacker', { createHTML: (s) => s })),
        litHtmlAgain: attempt(() => trustedTypes.createPolicy('lit-html', { createHTML: (s) => s })),
        // (eval itself cannot be tried from here: DevTools' evaluation is exempt from the CSP.)
        stringTimer: attempt(() => setTimeout('document.title = 1')),
      };
    })()`);
    expect(outcomes).toEqual({
      innerHTML: 'TypeError',
      insertAdjacentHTML: 'TypeError',
      scriptText: 'TypeError',
      scriptSrc: 'TypeError',
      otherPolicy: 'TypeError',
      litHtmlAgain: 'TypeError',
      stringTimer: 'TypeError',
    });
    await probe.close();
  });

  it("keeps the local user across a reload without keeping a token in the browser's storage", async () => {
    // Only the name is kept; the token lives in memory (a JWT's header always starts with eyJ).
    const stored = async () => JSON.stringify(await page.evaluate('({ ...localStorage, ...sessionStorage })'));
    expect(await stored()).toBe(JSON.stringify({ 'aga.local-user': 'ada' }));
    await page.reload();
    await page.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
    expect(await page.locator('.user-name').textContent()).toBe('ada');
    expect(await stored()).not.toContain('eyJ');
  });

  it('listens on this machine only (LOCAL_SIGN_IN): not at its other addresses', async (context) => {
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((address) => address !== undefined && !address.internal && address.family === 'IPv4')
      .map((address) => address!.address);
    if (others.length === 0) context.skip('this machine has no other IPv4 address to try');
    const port = new URL(deployment.current.baseUrl).port;
    expect((await fetch(`${deployment.current.baseUrl}/healthz`)).status).toBe(200);
    for (const address of others) {
      await expect(fetch(`http://${address}:${port}/healthz`), address).rejects.toThrow();
    }
  });

  it("shows a bad file's problem in the API's own words", async () => {
    await page.getByRole('link', { name: 'New campaign' }).first().click();
    await page.setInputFiles('#csv-file', files.pdf);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('The file is a PDF document, not a CSV file. Export the leads as CSV and upload that.');
    expect(await page.getByRole('heading', { name: 'How the file was read' }).count()).toBe(0);
    await screenshot(page, 'bad-file');
  });

  it("shows the report of the file chosen last, even when an earlier file's answer comes later", async () => {
    // The first file's preview is held back until the second's has been shown.
    let held = true;
    let released: () => void = () => {};
    const lateAnswerSent = new Promise<void>((resolve) => {
      released = resolve;
    });
    await page.route('**/api/campaigns/preview*', async (route) => {
      if (held) {
        held = false;
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        await route.continue().catch(() => {});
        released();
        return;
      }
      await route.continue();
    });
    await page.setInputFiles('#csv-file', files.longRun);
    await page.setInputFiles('#csv-file', files.leads);
    await page.getByRole('heading', { name: 'How the file was read' }).waitFor();
    // The earlier file's request has gone on to the server; give its answer time to land, if the page still took it.
    await lateAnswerSent;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await page.unroute('**/api/campaigns/preview*');
    expect(await page.locator('.file-name strong').textContent()).toBe(`sandbox-leads-${process.pid}.csv`);
    expect(await page.locator('#summary-heading ~ dl.figures > div:has(dt:text-is("Valid leads")) dd').textContent()).toBe('4');
    expect(await page.locator('.loading').count()).toBe(0);
  });

  it('previews a file on the sandbox at $0, every field labelled', async () => {
    await page.setInputFiles('#csv-file', files.leads);
    await page.getByRole('heading', { name: 'How the file was read' }).waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    // The name is the file's until the user types one: the refused file's name gave way to this one's.
    expect(await page.getByLabel('Campaign name').inputValue()).toBe(`sandbox leads ${process.pid}`);
    expect(await page.locator('.toast').textContent()).toBe('File read: 4 valid leads.');
    expect(await page.locator('#summary-heading ~ dl.figures dd').last().textContent()).toBe('sandbox: $0');
    expect(await page.locator('.estimate-basis').textContent()).toMatch(/^sandbox: the providers are the in-process sandbox/);
    // Every field has a name a screen reader reads out.
    const unlabelled = await page
      .locator('input, select, textarea')
      .evaluateAll((elements) => elements.filter((element) => element.labels?.length === 0 && !element.getAttribute('aria-label')).map((element) => element.outerHTML));
    expect(unlabelled).toEqual([]);
    expect(await page.evaluate(LOW_CONTRAST_TEXT)).toEqual([]);
    // The prompts become a template from the page (the only way to have one without the API); Enter saves it, and starts nothing.
    expect(await page.getByLabel('Template', { exact: true }).locator('option').allTextContents()).toEqual(['No saved template']);
    await page.getByLabel(/Personalization prompt/).fill('Tie the line to their role as {{Title}}.');
    await page.getByText('Save these prompts as a template').click();
    await page.getByLabel('Template name').fill('Role opener');
    await page.getByLabel('Template name').press('Enter');
    await expect.poll(() => page.locator(':focus').getAttribute('id')).toBe('template');
    expect(await page.locator('#template option:checked').textContent()).toBe('Role opener');
    expect(page.url()).toMatch(/#\/new$/);
    await page.getByLabel('Campaign name').fill('Injected names');
    await page.setInputFiles('#csv-file', files.leads);
    await page.getByRole('heading', { name: 'How the file was read' }).waitFor();
    // A name the user typed stays when the file is chosen again.
    expect(await page.getByLabel('Campaign name').inputValue()).toBe('Injected names');
    await page.getByRole('button', { name: 'Start: 4 leads (sandbox, $0)' }).click();
    await page.getByText('Finished', { exact: true }).waitFor({ timeout: 60_000 });
    expect(await page.locator('.page-head .badge.sandbox').count()).toBe(1);
    // The live leads say who they are, not just their row.
    await expect.poll(() => page.locator('table.live-leads .lead-name').allTextContents()).toEqual(['Mia', 'Noah', 'Olga', 'Maximiliana']);
    expect(await page.locator('table.live-leads .lead-company').first().textContent()).toBe('Harbor Freight AI');
    runUrl = page.url();
  }, 90_000);

  it(`renders a company named ${INJECTION} as text in the table and the lead, and runs nothing`, async () => {
    await page.getByRole('link', { name: 'See the results' }).click();
    await expect.poll(() => page.locator('table.results tbody tr').count()).toBe(4);
    campaignUrl = page.url();
    // A long email and company wrap in their columns: the table fits its box, so Open and Copy stay in view.
    expect(await page.locator('table.results').evaluate((table) => [table.parentElement!.scrollWidth <= table.parentElement!.clientWidth, table.offsetWidth])).toEqual([true, expect.any(Number)]);
    const copy = await page.getByRole('button', { name: 'Copy the line of row 5' }).boundingBox();
    expect(copy!.x + copy!.width).toBeLessThanOrEqual(1280);
    expect(await page.locator('table.results .lead-company').allTextContents()).toContain(INJECTION);
    expect(await page.evaluate(LOW_CONTRAST_TEXT)).toEqual([]);
    await page.getByRole('button', { name: 'Open row 3: Noah' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.locator('h2').textContent()).toBe(`Noah · ${INJECTION}`);
    expect(await dialog.getByText('sandbox: $0').isVisible()).toBe(true);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('[onerror]').count()).toBe(0);
    await page.keyboard.press('Escape');
    // Focus goes back to the button that opened the lead.
    expect(await page.locator(':focus').getAttribute('aria-label')).toBe('Open row 3: Noah');
    expect(seen.dialogs).toEqual([]);
  });

  it('offers the campaign a name is taken by, the focus on the problem, then on the form', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'New campaign' }).click();
    await page.setInputFiles('#csv-file', files.longRun);
    await page.getByRole('heading', { name: 'How the file was read' }).waitFor();
    await page.getByLabel('Campaign name').fill('injected NAMES');
    await page.getByRole('button', { name: /^Start: 12 leads/ }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.locator('p').first().textContent()).toBe('You already have a campaign named “injected NAMES” (names are compared ignoring case). Choose another name, or add this file to that campaign.');
    // Start was disabled while it worked, which dropped the focus: it is on the problem, read out.
    expect(await page.locator(':focus').getAttribute('role')).toBe('alert');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Add a file to Injected names', level: 1 }).waitFor();
    expect(await page.locator(':focus').textContent()).toBe('Prompts for this run');
  });

  it('pauses, resumes and cancels a run from the keyboard, the focus kept, and Back leads to the campaign', async () => {
    await page.getByRole('button', { name: /^Start: 12 leads/ }).click();
    await page.locator('.connection.live').waitFor();
    const focused = page.locator(':focus');
    // Pause becomes Resume and back: the focus follows, it does not fall to the page.
    await page.getByRole('button', { name: 'Pause' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('.page-head .badge.run-paused').waitFor();
    await expect.poll(() => focused.textContent()).toBe('Resume');
    expect(await page.locator('.notice-paused').textContent()).toBe('Paused: no provider call is made until you resume the run.');
    await page.keyboard.press('Enter');
    await page.locator('.page-head .badge.run-personalizing').waitFor();
    await expect.poll(() => focused.textContent()).toBe('Pause');
    // Cancel asks first, the safe answer focused: Enter twice keeps the run.
    await page.keyboard.press('Tab');
    expect(await focused.textContent()).toBe('Cancel run');
    await page.keyboard.press('Enter');
    expect(await focused.textContent()).toBe('Keep it running');
    await page.keyboard.press('Enter');
    expect(await focused.textContent()).toBe('Cancel run');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Yes, cancel the run' }).click();
    await page.locator('.page-head .badge.run-cancelled').waitFor();
    await expect.poll(() => focused.textContent()).toBe('Progress');
    await page.getByText('Finished', { exact: true }).waitFor({ timeout: 60_000 });
    const cancelled = await page.locator('section:has(#progress-heading) dl.figures > div:has(dt:text-is("Cancelled")) dd').textContent();
    expect(Number(cancelled)).toBeGreaterThan(0);
    // The form gave way to the run in the history: Back is the page the user came from, not an empty form.
    await page.goBack();
    await page.getByRole('heading', { name: 'Injected names', level: 1 }).waitFor();
  }, 90_000);

  it("counts the cancelled leads in the campaign's figures, and runs them again", async () => {
    await page.getByRole('heading', { name: 'Leads', level: 2 }).waitFor();
    const figures = Object.fromEntries(
      await page.locator('.page-head ~ dl.figures > div').evaluateAll((items) => items.map((item) => [item.querySelector('dt')?.textContent, Number(item.querySelector('dd')?.textContent?.replace(/[^\d.]/g, ''))])),
    );
    expect(figures.Cancelled).toBeGreaterThan(0);
    // Every lead is in one of the figures.
    expect(figures.Personalized + figures['Needs review'] + figures.Failed + figures.Pending + figures.Suppressed + figures.Cancelled).toBe(figures.Leads);
    await page.getByRole('button', { name: `Run the ${figures.Cancelled} cancelled lead${figures.Cancelled === 1 ? '' : 's'}` }).click();
    // A re-run reads no file, and says so.
    await expect.poll(() => page.locator('.stage-name').first().textContent()).toBe('Leads to run again');
    expect(await page.locator('.stage-detail').first().textContent()).toBe(`${figures.Cancelled} lead${figures.Cancelled === 1 ? '' : 's'} of the campaign, no file`);
  }, 60_000);

  it("works at a phone's width: nothing wider than the screen", async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const phoneSeen = watch(phone);
    await signIn(phone, 'ada');
    await phone.getByRole('link', { name: 'Injected names' }).waitFor();
    // Neither the page nor a table in it is wider than the screen (a table scrolling in its box hides columns).
    const tooWide = '[document.documentElement, ...document.querySelectorAll(".table-wrap")].filter((element) => element.scrollWidth > element.clientWidth).map((element) => element.className || element.tagName)';
    expect(await phone.evaluate(tooWide)).toEqual([]);
    await screenshot(phone, 'campaigns-phone');
    await phone.goto(campaignUrl);
    await phone.locator('table.results tbody tr').first().waitFor();
    expect(await phone.evaluate(tooWide)).toEqual([]);
    await phone.locator('#results-heading').evaluate((heading) => heading.scrollIntoView());
    await screenshot(phone, 'results-phone', { fullPage: false });
    await phone.getByRole('button', { name: 'Open row 2: Mia' }).click();
    await phone.getByRole('dialog').waitFor();
    await screenshot(phone, 'lead-phone', { fullPage: false });
    expect(phoneSeen.errors).toEqual([]);
    await phone.close();
  });

  it("shows another user none of it: no campaign, no KPIs, and the first user's addresses answer not found", async () => {
    const other = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const otherSeen = watch(other);
    await signIn(other, 'bea');
    expect(await other.locator('.user-name').textContent()).toBe('bea');
    await other.getByText('No campaign yet.').waitFor();
    expect(await other.locator('.kpi dd').first().textContent()).toBe('0');
    await other.goto(campaignUrl);
    await other.getByRole('alert').waitFor();
    expect(await other.getByRole('alert').textContent()).toContain('No campaign with this id.');
    expect(await other.getByText('Injected names').count()).toBe(0);
    await other.goto(runUrl);
    await other.getByRole('alert').waitFor();
    expect(await other.getByRole('alert').textContent()).toContain('No run with this id.');
    expect(await other.locator('table').count()).toBe(0);
    expect(otherSeen.errors).toEqual([]);
    await other.close();
  });

  it('signs out, and nothing of the session is left in the page', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    expect(await page.evaluate('Object.keys(localStorage)')).toEqual([]);
    expect(seen.errors).toEqual([]);
    expect(seen.dialogs).toEqual([]);
  });
});
