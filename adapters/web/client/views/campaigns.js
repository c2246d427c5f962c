// The user's campaigns, newest first, with search; their KPIs on top.

import { html, nothing } from 'lit-html';
import { getJson } from '../api.js';
import { count, hours, usd, when } from '../format.js';
import { debounce, errorBox, loading, runBadge } from '../ui.js';

/** @typedef {import('../types').Campaign} Campaign */
/** @typedef {import('../types').Metrics} Metrics */

/**
 * @param {import('../ui.js').App} app
 * @returns {import('../types').View}
 */
export function campaignsView(app) {
  /** @type {Metrics | null} */
  let metrics = null;
  /** @type {Campaign[] | null} */
  let campaigns = null;
  /** @type {string | null} */
  let nextCursor = null;
  let query = '';
  /** @type {unknown} */
  let error = null;
  let controller = new AbortController();

  const loadMetrics = async () => {
    try {
      metrics = await getJson('/api/metrics', { signal: controller.signal });
    } catch (failure) {
      if (!isAbort(failure)) error = failure;
    }
    app.redraw();
  };

  /** @param {boolean} more the next page, or the first */
  const loadCampaigns = async (more) => {
    const params = new URLSearchParams({ limit: '50' });
    if (query.trim() !== '') params.set('q', query.trim());
    if (more && nextCursor !== null) params.set('cursor', nextCursor);
    try {
      /** @type {{ campaigns: Campaign[], next_cursor: string | null }} */
      const page = await getJson(`/api/campaigns?${params}`, { signal: controller.signal });
      campaigns = more && campaigns !== null ? [...campaigns, ...page.campaigns] : page.campaigns;
      nextCursor = page.next_cursor;
      error = null;
    } catch (failure) {
      if (!isAbort(failure)) error = failure;
    }
    app.redraw();
  };

  const search = debounce(() => {
    controller.abort();
    controller = new AbortController();
    void loadCampaigns(false);
  }, 250);

  void loadMetrics();
  void loadCampaigns(false);

  const kpis = () => html`<section aria-labelledby="kpi-heading" class="kpis">
    <h2 id="kpi-heading" class="visually-hidden">Your results</h2>
    ${metrics === null
      ? loading('your results')
      : html`<dl class="kpi-grid">
          <div class="kpi"><dt>Leads personalized</dt><dd>${count(metrics.leads_personalized)}</dd></div>
          <div class="kpi"><dt>Hours saved</dt><dd>${hours(metrics.hours_saved)}</dd></div>
          <div class="kpi"><dt>Money saved</dt><dd>${usd(metrics.money_saved)}</dd></div>
        </dl>
        ${app.config.sandbox ? html`<p class="muted small">Sandbox runs never count here: their lines are made up.</p>` : nothing}`}
  </section>`;

  const row = (/** @type {Campaign} */ campaign) => html`<tr>
    <th scope="row"><a href="#/campaigns/${encodeURIComponent(campaign.id)}">${campaign.name}</a></th>
    <td class="num" data-label="Leads">${count(campaign.counts.total)}</td>
    <td class="num" data-label="Personalized">${count(campaign.counts.personalized)}</td>
    <td class="num wide-only">${count(campaign.counts.needs_review)}</td>
    <td class="num wide-only">${count(campaign.counts.failed)}</td>
    <td class="num wide-only">${usd(campaign.cost_usd)}</td>
    <td class="last-run">${campaign.last_run === null ? '—' : html`${runBadge(campaign.last_run.status)} <span class="muted small nowrap wide-only">${when(campaign.last_run.created_at)}</span>`}</td>
  </tr>`;

  const list = () => {
    if (campaigns === null) return error === null ? loading('your campaigns') : nothing;
    if (campaigns.length === 0) {
      return query.trim() === ''
        ? html`<div class="empty card"><p>No campaign yet.</p><p><a class="button primary" href="#/new">Start your first campaign</a></p></div>`
        : html`<p class="empty" role="status">No campaign's name contains “${query.trim()}”.</p>`;
    }
    return html`<div class="table-wrap">
        <table class="campaigns">
          <caption class="visually-hidden">Your campaigns, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Campaign</th>
              <th scope="col" class="num">Leads</th>
              <th scope="col" class="num">Personalized</th>
              <th scope="col" class="num wide-only">Needs review</th>
              <th scope="col" class="num wide-only">Failed</th>
              <th scope="col" class="num wide-only">Cost</th>
              <th scope="col">Last run</th>
            </tr>
          </thead>
          <tbody>${campaigns.map(row)}</tbody>
        </table>
      </div>
      ${nextCursor === null ? nothing : html`<p><button type="button" @click=${() => void loadCampaigns(true)}>Show more campaigns</button></p>`}`;
  };

  return {
    title: 'Campaigns',
    dispose: () => controller.abort(),
    template: () => html`
      <div class="page-head">
        <h1 tabindex="-1">Campaigns</h1>
        <a class="button primary" href="#/new">New campaign</a>
      </div>
      ${kpis()}
      <section aria-labelledby="list-heading">
        <h2 id="list-heading" class="visually-hidden">Your campaigns</h2>
        <div class="toolbar">
          <label for="campaign-search">Search campaigns</label>
          <input id="campaign-search" type="search" placeholder="Name contains…" .value=${query}
            @input=${(/** @type {InputEvent} */ event) => {
              query = /** @type {HTMLInputElement} */ (event.currentTarget).value;
              search();
            }} />
        </div>
        ${errorBox(error)}
        ${list()}
      </section>
    `,
  };
}

/** @param {unknown} error */
export function isAbort(error) {
  return error instanceof DOMException && error.name === 'AbortError';
}
