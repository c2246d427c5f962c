/**
 * The web app end to end in a real browser (Debian's chromium through playwright-core) against the
 * real system: src/main.ts as OS processes (the edge apart from the workers, so that the edge can
 * be killed under a live progress stream), a throw-away database and NATS namespace, and the
 * sandbox provider over HTTP, paced at 30 lines a minute so that the run is still live while the
 * test watches it. The writer refuses the leads of one company (HTTP 400) until the test lets it
 * answer, so that the run has failed leads to re-run.
 *
 * A person's path: sign in as the local user, upload a real-looking HubSpot export, see how each
 * column was read, the rejected rows with their reasons and the lead on the suppression list, start, pause and resume, lose the
 * connection (the edge is killed and started again) and see the progress resume and reach the
 * end, open a lead and its sources, copy its line, find the lead whose company is an HTML
 * injection shown as text, re-run the failed leads, and download the export for Instantly.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { parse } from 'csv-parse/sync';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processDeployment, type ProcessDeployment } from '../support/processes.ts';
import { launchBrowser, screenshot, SKIP_BROWSER_TESTS, watch, type PageWatch } from './browser.ts';

const INJECTION = '<img src=x onerror=alert(1)>';
const REFUSED_COMPANY = 'Quanta Refusals';
const WORKERS = 'relay,reconciler,extraction,research,personalization,projection';

/** A HubSpot contacts export: 11 rows, 8 leads (one company refused by the writer, one an HTML injection), a duplicate, 2 rejected. */
const HUBSPOT_EXPORT = [
  'First Name,Last Name,Email Address,Company Name,Job Title,Website URL,City',
  'Ada,Moreno,ada.moreno@northwind-robotics.example,Northwind Robotics,VP Sales,https://northwind-robotics.example,Austin',
  'Ben,Okafor,ben.okafor@northwind-robotics.example,Northwind Robotics,Head of Growth,https://northwind-robotics.example,Austin',
  'Chloé,Dubois,chloe.dubois@lumen-analytics.example,Lumen Analytics,CEO,https://lumen-analytics.example,Lyon',
  'Dev,Patel,dev.patel@bergwerk-logistik.example,Bergwerk Logistik,COO,https://bergwerk-logistik.example,Hamburg',
  `Emma,Schulz,emma.schulz@quanta-refusals.example,${REFUSED_COMPANY},Director of Operations,https://quanta-refusals.example,Berlin`,
  `Farid,Haddad,farid.haddad@quanta-refusals.example,${REFUSED_COMPANY},Sales Manager,https://quanta-refusals.example,Berlin`,
  'Ada,Moreno,ADA.MORENO@northwind-robotics.example,Northwind Robotics,VP Sales,https://northwind-robotics.example,Austin',
  'Hugo,Silva,hugo.silva@,Tidewater Foods,Head of Procurement,https://tidewater-foods.example,Porto',
  'Ines,Ferreira,ines.ferreira@example.com,,Buyer,,Lisbon',
  `Kara,Nguyen,kara.nguyen@fjord-energy.example,${INJECTION},Head of Partnerships,https://fjord-energy.example,Oslo`,
  'Liam,Berg,liam.berg@bluepeak-dental.example,Bluepeak Dental,Practice Owner,https://bluepeak-dental.example,Bergen',
].join('\r\n');

describe.skipIf(SKIP_BROWSER_TESTS)('the web app in Chromium: a campaign from upload to export', () => {
  let deployment: ProcessDeployment;
  let edge: ChildProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let seen: PageWatch;
  let writerRefuses = true;
  let csvPath: string;
  const eventRequests: Request[] = [];

  beforeAll(async () => {
    deployment = await processDeployment({
      providerLatencyMs: 50,
      vars: { LOCAL_SIGN_IN: 'true', PERSONALIZATION_RPM: '30', LOG_LEVEL: 'error' },
      interceptors: [
        ({ endpoint, body }) =>
          writerRefuses && endpoint === 'chatCompletions' && JSON.stringify(body).includes(REFUSED_COMPANY)
            ? { status: 400, body: { error: { message: 'sandbox: refused for this lead', type: 'invalid_request_error' } } }
            : undefined,
      ],
    });
    edge = deployment.start('edge');
    deployment.start(WORKERS);
    await deployment.ready(30_000);
    // The local user's suppression list holds one company's domain (through the API, as any client would).
    const session = (await (await fetch(`${deployment.baseUrl}/app/session/local`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).json()) as { access_token: string };
    const suppressed = await fetch(`${deployment.baseUrl}/api/suppressions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${session.access_token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ entries: ['bluepeak-dental.example'] }),
    });
    expect(suppressed.status).toBe(201);
    csvPath = join(tmpdir(), `hubspot-contacts-${process.pid}.csv`);
    await writeFile(csvPath, HUBSPOT_EXPORT);
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: deployment.baseUrl });
    page = await context.newPage();
    seen = watch(page);
    page.on('request', (request) => {
      if (request.url().includes('/api/campaigns/events/')) eventRequests.push(request);
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await deployment?.close();
  }, 30_000);

  it('signs in as the local user, clearly marked', async () => {
    await page.goto(deployment.baseUrl);
    await expect.poll(() => page.getByRole('heading', { name: 'Sign in', level: 1 }).isVisible()).toBe(true);
    await expect.poll(() => page.getByText('Local development').isVisible()).toBe(true);
    await screenshot(page, 'sign-in');
    await page.getByRole('button', { name: 'Sign in as a local user' }).click();
    await page.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
    expect(await page.locator('.user-name').textContent()).toBe('local');
    expect(await page.locator('.top .badge.local').textContent()).toBe('local user');
    await page.getByText('No campaign yet.').waitFor();
  });

  it('uploads a HubSpot export and shows how each column was read, the first rows, the rejected rows and why, and the estimate', async () => {
    await page.getByRole('link', { name: 'New campaign' }).first().click();
    await page.getByRole('heading', { name: 'New campaign', level: 1 }).waitFor();
    await page.setInputFiles('#csv-file', csvPath);
    await page.getByRole('heading', { name: 'How the file was read' }).waitFor();

    const mapping = await page.locator('table.columns tbody tr').evaluateAll((rows) => rows.map((row) => [row.querySelector('th')?.textContent?.trim(), row.querySelector('td')?.textContent?.trim()]));
    expect(mapping).toEqual([
      ['First Name', 'First name'],
      ['Last Name', 'Last name'],
      ['Email Address', 'Email'],
      ['Company Name', 'Company'],
      ['Job Title', 'Job title'],
      ['Website URL', 'Website'],
      ['City', 'City'],
    ]);
    const figures = Object.fromEntries(
      await page.locator('#summary-heading ~ dl.figures > div').evaluateAll((items) => items.map((item) => [item.querySelector('dt')?.textContent, item.querySelector('dd')?.textContent])),
    );
    expect(figures).toMatchObject({ Rows: '11', 'Valid leads': '8', Duplicates: '1', Rejected: '2', Suppressed: '1' });
    // Real providers' prices (the keys point at the sandbox, which the service cannot tell from a proxy).
    expect(figures['Estimated cost']).toMatch(/^\$\d+\.\d{2,4}$/);
    expect(await page.locator('table.sample tbody tr').count()).toBe(8);
    const rejected = await page.locator('section[aria-labelledby="rejected-heading"] li').allTextContents();
    expect(rejected).toHaveLength(2);
    expect(rejected[0]).toMatch(/^Row 9 .*hugo\.silva@.* is not a valid address/);
    expect(rejected[1]).toMatch(/^Row 10 .*company is empty/);
    expect(await page.locator('section[aria-labelledby="suppressed-heading"] li').allTextContents()).toEqual([
      "Row 12 the email's domain bluepeak-dental.example is on your suppression list.",
    ]);
    await screenshot(page, 'new-campaign-preview');
  });

  it('starts the run with a prompt that uses a column of the file, and shows its progress live', async () => {
    await page.getByLabel('Campaign name').fill('Q3 outreach: HubSpot');
    await page.getByLabel(/Personalization prompt/).fill('Tie the line to their role as ');
    await page.getByRole('button', { name: '{{Job Title}}' }).click();
    expect(await page.getByLabel(/Personalization prompt/).inputValue()).toBe('Tie the line to their role as {{Job Title}}');
    await page.getByRole('button', { name: /^Start: 8 leads/ }).click();

    await page.getByRole('heading', { name: 'Q3 outreach: HubSpot', level: 1 }).waitFor();
    await page.locator('.connection.live').waitFor();
    await page.locator('table.live-leads tbody tr').first().waitFor({ timeout: 30_000 });
    // Paced at 30 lines a minute: the status says why it waits.
    await page.locator('.notice-paced').waitFor({ timeout: 10_000 });
    await screenshot(page, 'run-live');
  });

  it('pauses and resumes the run', async () => {
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.locator('.page-head .badge.run-paused').waitFor();
    await page.locator('.notice-paused').waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.locator('.page-head .badge.run-personalizing').waitFor();
  });

  it('resumes the progress after the connection drops (the edge is killed and started again), from the last event it had', async () => {
    const before = eventRequests.length;
    await new Promise((resolve) => {
      edge.once('exit', resolve);
      edge.kill('SIGKILL');
    });
    await page.locator('.connection.reconnecting').waitFor();
    edge = deployment.start('edge');
    await deployment.ready(30_000);
    // Live again (or, had the run ended meanwhile, finished: the stream's summary and end came through).
    await page.locator('.connection:not(.reconnecting)').waitFor({ timeout: 30_000 });
    // The connection that resumed the stream (attempts while the edge was down got no answer)
    // named the last event received: EventSource's own reconnect in Last-Event-ID, the app's
    // (after the browser gave up) in ?lastEventId=.
    const answered = (await Promise.all(eventRequests.slice(before).map(async (request) => ((await request.response()) === null ? [] : [request])))).flat();
    expect(answered.length).toBeGreaterThan(0);
    const resumedFrom = await Promise.all(
      answered.map(async (request) => (await request.allHeaders())['last-event-id'] ?? new URL(request.url()).searchParams.get('lastEventId') ?? `none in ${request.url().replace(/access_token=[^&]+/, 'access_token=…')}`),
    );
    for (const position of resumedFrom) expect(position).toMatch(/^\d+-\d+$/);
  }, 60_000);

  it('watches the progress reach the end: every lead settled, 2 failed, 1 suppressed', async () => {
    await page.getByText('Finished', { exact: true }).waitFor({ timeout: 90_000 });
    const progress = page.locator('.stages progress');
    expect(await progress.evaluate((element) => [element.value, element.max])).toEqual([8, 8]);
    const figures = Object.fromEntries(
      await page.locator('section:has(#progress-heading) dl.figures > div').evaluateAll((items) => items.map((item) => [item.querySelector('dt')?.textContent, item.querySelector('dd')?.textContent])),
    );
    expect(figures).toMatchObject({ Personalized: String(5 - Number(figures['Needs review'])), Failed: '2', Suppressed: '1' });
    expect(await page.locator('table.live-leads tbody tr').count()).toBe(8);
    await page.locator('.page-head .badge.run-completed').waitFor();
    await screenshot(page, 'run-done');
  }, 120_000);

  it("lists the results, filters them by status and search, and opens a lead with its line, the fact it relies on and the research's sources as links", async () => {
    await page.getByRole('link', { name: 'See the results' }).click();
    await page.getByRole('heading', { name: 'Leads', level: 2 }).waitFor();
    await expect.poll(() => page.locator('table.results tbody tr').count()).toBe(8);
    await screenshot(page, 'results');

    await page.getByLabel('Status', { exact: true }).selectOption('failed');
    await expect.poll(() => page.locator('table.results tbody tr').count()).toBe(2);
    expect(await page.locator('table.results tbody tr td.line').allTextContents()).toEqual([
      expect.stringMatching(/personalization failed after 1 attempt: .*400/),
      expect.stringMatching(/personalization failed after 1 attempt: .*400/),
    ]);
    await page.getByLabel('Status', { exact: true }).selectOption('');
    await page.getByLabel('Search leads').fill('northwind');
    await expect.poll(() => page.locator('table.results tbody tr .lead-name').allTextContents()).toEqual(['Ada Moreno', 'Ben Okafor']);

    await page.getByRole('button', { name: 'Open row 2: Ada Moreno' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    const line = (await dialog.locator('.line-quote').textContent()) ?? '';
    expect(line.length).toBeGreaterThan(10);
    expect((await dialog.locator('.basis').textContent())?.trim().length).toBeGreaterThan(5);
    expect(await dialog.locator('.research').textContent()).toContain('[sandbox research]');
    const sources = await dialog.locator('ul.sources a').evaluateAll((links) => links.map((link) => [link.getAttribute('href'), link.getAttribute('rel'), link.getAttribute('target')]));
    expect(sources.length).toBeGreaterThan(0);
    for (const [href, rel, target] of sources) {
      expect(href).toMatch(/^https:\/\/sandbox\.invalid\//);
      expect(rel).toBe('noopener noreferrer');
      expect(target).toBe('_blank');
    }
    expect(await dialog.getByText('sandbox/writer-1').isVisible()).toBe(true);
    await screenshot(page, 'lead', { fullPage: false });

    await dialog.getByRole('button', { name: 'Copy line' }).click();
    await expect.poll(() => page.evaluate('navigator.clipboard.readText()')).toBe(line);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  });

  it(`shows a company named ${INJECTION} as text: no element made of it, no script run`, async () => {
    await page.getByLabel('Search leads').fill('onerror');
    await expect.poll(() => page.locator('table.results tbody tr').count()).toBe(1);
    expect(await page.locator('table.results .lead-company').textContent()).toBe(INJECTION);
    await page.getByRole('button', { name: /^Open row 11:/ }).click();
    await page.getByRole('dialog').waitFor();
    expect(await page.locator('#lead-dialog-title').textContent()).toContain(INJECTION);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(seen.dialogs).toEqual([]);
    await page.keyboard.press('Escape');
  });

  it('re-runs the failed leads, which the writer now answers', async () => {
    writerRefuses = false;
    await page.getByLabel('Search leads').fill('');
    await page.getByRole('button', { name: /^Re-run \d+ failed or needs-review leads?$/ }).click();
    await page.getByText('Finished', { exact: true }).waitFor({ timeout: 60_000 });
    const done = await page.locator('.stage-detail').nth(1).textContent();
    expect(done).toMatch(/^(\d+) of \1 leads done/);
    await page.getByRole('link', { name: 'See the results' }).click();
    await page.getByLabel('Status', { exact: true }).selectOption('failed');
    await page.getByText('No lead matches.').waitFor();
  }, 90_000);

  it('downloads the export for Instantly: a row for every row of the file, the line under {{personalization}}', async () => {
    await page.getByLabel('Format for').selectOption('instantly');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^q3-outreach-hubspot-\d{4}-\d{2}-\d{2}-instantly\.csv$/);
    const rows = parse<Record<string, string>>(await readFile(await download.path()), { bom: true, columns: true });
    expect(rows).toHaveLength(11);
    expect(Object.keys(rows[0]!).slice(0, 8)).toEqual(['First Name', 'Last Name', 'Email Address', 'Company Name', 'Job Title', 'Website URL', 'City', 'personalization']);
    const statuses = rows.map((row) => row.enrichment_status);
    expect(statuses.filter((status) => status === 'rejected')).toHaveLength(2);
    expect(statuses.filter((status) => status === 'duplicate')).toHaveLength(1);
    expect(statuses.filter((status) => status === 'failed')).toHaveLength(0);
    expect(rows.find((row) => row['First Name'] === 'Liam')?.enrichment_status).toBe('suppressed');
    const emma = rows.find((row) => row['First Name'] === 'Emma');
    expect(emma?.enrichment_status).toMatch(/^(personalized|needs_review)$/);
    expect(emma?.personalization?.length).toBeGreaterThan(10);
    expect(rows.find((row) => row['Company Name'] === INJECTION)?.enrichment_status).toMatch(/^(personalized|needs_review)$/);
  });

  it('shows the campaign in the list with its counts, and the KPIs', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Campaigns' }).click();
    await page.getByRole('link', { name: 'Q3 outreach: HubSpot' }).waitFor();
    const kpis = Object.fromEntries(await page.locator('.kpi').evaluateAll((items) => items.map((item) => [item.querySelector('dt')?.textContent, item.querySelector('dd')?.textContent])));
    expect(Number(kpis['Leads personalized'])).toBeGreaterThanOrEqual(5);
    await screenshot(page, 'campaigns');
    expect(seen.errors).toEqual([]);
    expect(seen.dialogs).toEqual([]);
  });
});
