// A campaign: its figures and runs, its leads filterable by status with search, a lead opened
// with its line, the fact it relies on, the research and its sources; copy, re-run failed or
// needs-review leads, regenerate selected ones with another prompt, and export.

import { html, nothing } from 'lit-html';
import { getJson, idempotencyKey, request } from '../api.js';
import { count, LEAD_STATUS_LABELS, personName, runEnded, safeHref, usd, when } from '../format.js';
import { copyText, debounce, errorBox, leadBadge, loading, runBadge, sandboxBadge } from '../ui.js';
import { isAbort } from './campaigns.js';

/** @typedef {import('../types').CampaignDetail} CampaignDetail */
/** @typedef {import('../types').CampaignRun} CampaignRun */
/** @typedef {import('../types').ResultLead} ResultLead */

const PAGE_SIZE = 100;
const SEQUENCERS = [
  { value: '', label: 'Standard columns' },
  { value: 'instantly', label: 'Instantly ({{personalization}})' },
  { value: 'smartlead', label: 'Smartlead ({{personalization}})' },
  { value: 'lemlist', label: 'lemlist ({{icebreaker}})' },
];

/**
 * @param {import('../ui.js').App} app
 * @param {string} campaignId
 * @returns {import('../types').View}
 */
export function campaignView(app, campaignId) {
  const base = `/api/campaigns`;
  const id = encodeURIComponent(campaignId);
  /** @type {CampaignDetail | null} */
  let campaign = null;
  /** @type {CampaignRun[]} */
  let runs = [];
  /** @type {string | null} */
  let runsCursor = null;
  /** @type {ResultLead[] | null} */
  let leads = null;
  /** @type {string | null} */
  let nextCursor = null;
  let status = '';
  let query = '';
  /** @type {unknown} */
  let error = null;
  /** @type {unknown} */
  let leadsError = null;
  /** @type {unknown} */
  let actionError = null;
  let busy = false;
  /** @type {Set<string>} */
  const selected = new Set();
  /** @type {ResultLead | null} */
  let opened = null;
  let regenerating = false;
  let regeneratePrompt = '';
  let refreshResearch = false;
  let exportOnly = false;
  let exportFor = '';
  let controller = new AbortController();
  const lifetime = new AbortController();

  const loadCampaign = async () => {
    try {
      campaign = await getJson(`${base}/${id}`, { signal: lifetime.signal });
      /** @type {{ runs: CampaignRun[], next_cursor: string | null }} */
      const page = await getJson(`${base}/${id}/runs?limit=10`, { signal: lifetime.signal });
      runs = page.runs;
      runsCursor = page.next_cursor;
    } catch (failure) {
      if (!isAbort(failure)) error = failure;
    }
    app.redraw();
  };

  /** @param {boolean} more */
  const loadLeads = async (more) => {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (status !== '') params.set('status', status);
    if (query.trim() !== '') params.set('q', query.trim());
    if (more && nextCursor !== null) params.set('cursor', nextCursor);
    try {
      /** @type {{ leads: ResultLead[], next_cursor: string | null }} */
      const page = await getJson(`${base}/results/${id}?${params}`, { signal: controller.signal });
      leads = more && leads !== null ? [...leads, ...page.leads] : page.leads;
      nextCursor = page.next_cursor;
      leadsError = null;
      if (!more) selected.clear();
    } catch (failure) {
      if (!isAbort(failure)) leadsError = failure;
    }
    app.redraw();
  };

  const reloadLeads = () => {
    controller.abort();
    controller = new AbortController();
    void loadLeads(false);
  };
  const search = debounce(reloadLeads, 250);

  void loadCampaign().then(() => (error === null ? loadLeads(false) : undefined));

  /** Starts a re-run and follows it. @param {Record<string, unknown>} body */
  const rerun = async (body) => {
    busy = true;
    actionError = null;
    app.redraw();
    try {
      const response = await request(`${base}/${id}/runs`, { method: 'POST', json: body, headers: { 'Idempotency-Key': idempotencyKey() } });
      /** @type {import('../types').Accepted} */
      const accepted = await response.json();
      app.navigate(`#/campaigns/${id}/runs/${encodeURIComponent(accepted.run_id)}`);
    } catch (failure) {
      actionError = failure;
      busy = false;
      app.redraw();
      // The button was disabled while it worked, which dropped the focus: give it to the error.
      /** @type {HTMLElement | null} */ (document.querySelector('#actions-error .error'))?.focus();
    }
  };

  const download = async () => {
    busy = true;
    actionError = null;
    app.redraw();
    try {
      const params = new URLSearchParams();
      if (exportOnly) params.set('only', 'personalized');
      if (exportFor !== '') params.set('for', exportFor);
      const response = await request(`${base}/export/${id}${params.size > 0 ? `?${params}` : ''}`, { headers: { Accept: 'text/csv, application/problem+json' } });
      const blob = await response.blob();
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = fileNameOf(response.headers.get('Content-Disposition')) ?? 'export.csv';
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      app.announce(`Downloaded ${link.download}.`);
    } catch (failure) {
      actionError = failure;
    } finally {
      busy = false;
      app.redraw();
      // The button was disabled while it worked, which dropped the focus: back to it, or to the error.
      /** @type {HTMLElement | null} */ (document.querySelector('#actions-error .error') ?? document.getElementById('download-csv'))?.focus();
    }
  };

  /** @param {ResultLead} lead */
  const open = (lead) => {
    opened = lead;
    app.redraw();
    const dialog = /** @type {HTMLDialogElement | null} */ (document.getElementById('lead-dialog'));
    if (dialog !== null && !dialog.open) dialog.showModal();
  };

  const copyLine = async (/** @type {string | null} */ line) => {
    if (line === null) return;
    app.announce((await copyText(line)) ? 'Line copied.' : 'The browser refused to copy: select the line and copy it.');
  };

  /** The next runs (a campaign keeps every run; the first page shows the latest 10). */
  const moreRuns = async () => {
    if (runsCursor === null) return;
    try {
      /** @type {{ runs: CampaignRun[], next_cursor: string | null }} */
      const page = await getJson(`${base}/${id}/runs?limit=50&cursor=${encodeURIComponent(runsCursor)}`, { signal: lifetime.signal });
      runs = [...runs, ...page.runs];
      runsCursor = page.next_cursor;
    } catch (failure) {
      if (!isAbort(failure)) actionError = failure;
    }
    app.redraw();
  };

  const inProgress = () => runs.some((run) => !runEnded(run));
  const rerunnable = () => (campaign === null ? 0 : campaign.counts.failed + campaign.counts.needs_review);

  const header = (/** @type {CampaignDetail} */ c) => html`
    <p class="breadcrumbs"><a href="#/">Campaigns</a> › ${c.name}</p>
    <div class="page-head">
      <h1 tabindex="-1">${c.name}</h1>
      <a class="button" href="#/campaigns/${id}/upload">Add a file</a>
    </div>
    <dl class="figures">
      <div><dt>Leads</dt><dd>${count(c.counts.total)}</dd></div>
      <div><dt>Personalized</dt><dd class="good">${count(c.counts.personalized)}</dd></div>
      <div><dt>Needs review</dt><dd>${count(c.counts.needs_review)}</dd></div>
      <div><dt>Failed</dt><dd class=${c.counts.failed > 0 ? 'bad' : ''}>${count(c.counts.failed)}</dd></div>
      <div><dt>Pending</dt><dd>${count(c.counts.pending)}</dd></div>
      <div><dt>Suppressed</dt><dd>${count(c.counts.suppressed)}</dd></div>
      ${c.counts.cancelled > 0 ? html`<div><dt>Cancelled</dt><dd>${count(c.counts.cancelled)}</dd></div>` : nothing}
      <div><dt>Cost</dt><dd>${usd(c.cost_usd)}</dd></div>
    </dl>`;

  const runsList = () => html`<details class="card runs" ?open=${inProgress()}>
    <summary><h2>Runs <span class="count">${count(campaign?.run_count ?? runs.length)}</span></h2></summary>
    <ul class="run-list">
      ${runs.map(
        (run) => html`<li>
          ${runBadge(run.status)}
          <a href="#/campaigns/${id}/runs/${encodeURIComponent(run.id)}">${when(run.created_at)}</a>
          <span class="muted small">${run.file_name ?? 'a re-run'}: ${count(run.counters.valid)} leads, ${count(run.counters.personalized)} personalized, ${usd(run.cost_usd)}</span>
        </li>`,
      )}
    </ul>
    ${runsCursor === null ? nothing : html`<p><button type="button" @click=${() => void moreRuns()}>Show earlier runs</button></p>`}
  </details>`;

  const actions = () => html`<section class="card" aria-labelledby="actions-heading">
    <h2 id="actions-heading">Re-run and export</h2>
    <div class="action-groups">
      <div class="stack">
        <p class="small">Try the failed and needs-review leads again, without the file (their research is reused).</p>
        <button type="button" ?disabled=${busy || inProgress() || rerunnable() === 0} @click=${() => void rerun({ statuses: ['failed', 'needs_review'] })}>
          Re-run ${count(rerunnable())} failed or needs-review lead${rerunnable() === 1 ? '' : 's'}
        </button>
        ${campaign !== null && campaign.counts.cancelled > 0
          ? html`<p class="small">A cancelled run left leads it never started.</p>
              <button type="button" ?disabled=${busy || inProgress()} @click=${() => void rerun({ statuses: ['cancelled'] })}>
                Run the ${count(campaign.counts.cancelled)} cancelled lead${campaign.counts.cancelled === 1 ? '' : 's'}
              </button>`
          : nothing}
        ${inProgress() ? html`<p class="muted small">A run of this campaign is in progress: re-runs wait for it to end.</p>` : nothing}
      </div>
      <form class="stack export" @submit=${(/** @type {SubmitEvent} */ event) => {
        event.preventDefault();
        void download();
      }}>
        <fieldset>
          <legend class="small">Export a CSV with a row for every row of the file</legend>
          <div class="field checkbox">
            <input id="export-only" type="checkbox" .checked=${exportOnly} @change=${(/** @type {Event} */ event) => (exportOnly = /** @type {HTMLInputElement} */ (event.currentTarget).checked)} />
            <label for="export-only">Personalized leads only</label>
          </div>
          <div class="field">
            <label for="export-for">Format for</label>
            <select id="export-for" @change=${(/** @type {Event} */ event) => (exportFor = /** @type {HTMLSelectElement} */ (event.currentTarget).value)}>
              ${SEQUENCERS.map((option) => html`<option value=${option.value} ?selected=${exportFor === option.value}>${option.label}</option>`)}
            </select>
          </div>
          <button id="download-csv" type="submit" class="primary" ?disabled=${busy}>Download CSV</button>
        </fieldset>
      </form>
    </div>
    <div id="actions-error">${errorBox(actionError)}</div>
  </section>`;

  const regenerateForm = () => html`<form class="card stack regenerate" aria-labelledby="regenerate-heading" @submit=${(/** @type {SubmitEvent} */ event) => {
      event.preventDefault();
      /** @type {Record<string, unknown>} */
      const body = { lead_ids: [...selected], research: refreshResearch ? 'refresh' : 'reuse' };
      if (regeneratePrompt.trim() !== '') body.personalization_prompt = regeneratePrompt;
      void rerun(body);
    }}>
    <h3 id="regenerate-heading">Regenerate ${count(selected.size)} selected lead${selected.size === 1 ? '' : 's'}</h3>
    <div class="field">
      <label for="regenerate-prompt">Personalization prompt</label>
      <textarea id="regenerate-prompt" rows="3" maxlength="4000" aria-describedby="regenerate-help" .value=${regeneratePrompt}
        @input=${(/** @type {InputEvent} */ event) => (regeneratePrompt = /** @type {HTMLTextAreaElement} */ (event.currentTarget).value)}></textarea>
      <p id="regenerate-help" class="muted small">How to write the new lines, e.g. “Mention their city.”; your file's columns work as variables (<code>{{Job Title}}</code>). It becomes the campaign's prompt. Blank: the campaign's prompt as it is${campaign?.personalization_prompt ? '' : ' (the default)'}.</p>
    </div>
    <div class="field checkbox">
      <input id="refresh-research" type="checkbox" .checked=${refreshResearch} @change=${(/** @type {Event} */ event) => (refreshResearch = /** @type {HTMLInputElement} */ (event.currentTarget).checked)} />
      <label for="refresh-research">Research the companies again (paid) instead of reusing their research</label>
    </div>
    <div class="actions">
      <button type="submit" class="primary" ?disabled=${busy || inProgress()}>Regenerate</button>
      <button type="button" @click=${() => {
        regenerating = false;
        app.redraw();
        document.getElementById('regenerate-open')?.focus();
      }}>Close</button>
    </div>
  </form>`;

  const filters = () => html`<div class="toolbar">
    <div class="field inline">
      <label for="status-filter">Status</label>
      <select id="status-filter" @change=${(/** @type {Event} */ event) => {
        status = /** @type {HTMLSelectElement} */ (event.currentTarget).value;
        reloadLeads();
      }}>
        <option value="" ?selected=${status === ''}>All</option>
        ${Object.entries(LEAD_STATUS_LABELS).map(([value, label]) => html`<option value=${value} ?selected=${status === value}>${label}</option>`)}
      </select>
    </div>
    <div class="field inline grow">
      <label for="lead-search">Search leads</label>
      <input id="lead-search" type="search" placeholder="Name, email, company or line" .value=${query}
        @input=${(/** @type {InputEvent} */ event) => {
          query = /** @type {HTMLInputElement} */ (event.currentTarget).value;
          search();
        }} />
    </div>
    ${leads === null || leads.length === 0
      ? nothing
      : html`<div class="field checkbox">
          <input id="select-all" type="checkbox" .checked=${leads.every((lead) => selected.has(lead.id))}
            .indeterminate=${selected.size > 0 && !leads.every((lead) => selected.has(lead.id))}
            @change=${(/** @type {Event} */ event) => {
              const all = /** @type {HTMLInputElement} */ (event.currentTarget).checked;
              for (const lead of /** @type {ResultLead[]} */ (leads)) {
                if (all) selected.add(lead.id);
                else selected.delete(lead.id);
              }
              app.redraw();
            }} />
          <label for="select-all">Select the ${count(leads.length)} lead${leads.length === 1 ? '' : 's'} shown</label>
        </div>`}
    ${selected.size === 0
      ? nothing
      : html`<button id="regenerate-open" type="button" @click=${() => {
          regenerating = true;
          regeneratePrompt ||= campaign?.personalization_prompt ?? '';
          app.redraw();
          document.getElementById('regenerate-prompt')?.focus();
        }}>Regenerate ${count(selected.size)} selected…</button>`}
  </div>`;

  const leadRow = (/** @type {ResultLead} */ lead) => {
    const name = personName(lead.canonical) ?? lead.email;
    return html`<tr>
      <td class="select">
        <input type="checkbox" aria-label="Select row ${lead.row}: ${name}" .checked=${selected.has(lead.id)} @change=${(/** @type {Event} */ event) => {
          if (/** @type {HTMLInputElement} */ (event.currentTarget).checked) selected.add(lead.id);
          else selected.delete(lead.id);
          app.redraw();
        }} />
      </td>
      <td class="num wide-only">${lead.row}</td>
      <td class="lead-cell"><span class="lead-name">${name}</span>${name === lead.email ? nothing : html`<br /><span class="muted small lead-email">${lead.email}</span>`}</td>
      <td class="wide-only lead-company">${lead.company}</td>
      <td>${leadBadge(lead.enrichment_status)}</td>
      <td class="line">${lead.personalized_message ?? html`<span class="muted">${lead.error ?? ''}</span>`}</td>
      <td class="row-actions">
        <button type="button" @click=${() => open(lead)} aria-label="Open row ${lead.row}: ${name}">Open</button>
        ${lead.personalized_message === null ? nothing : html`<button type="button" @click=${() => void copyLine(lead.personalized_message)} aria-label="Copy the line of row ${lead.row}">Copy</button>`}
      </td>
    </tr>`;
  };

  const table = () => {
    if (leads === null) return leadsError === null ? loading('the leads') : nothing;
    if (leads.length === 0) return html`<p class="empty" role="status">No lead matches.</p>`;
    return html`<div class="table-wrap">
        <table class="results">
          <caption class="visually-hidden">The campaign's leads in file order</caption>
          <thead>
            <tr>
              <th scope="col" class="select"><span class="visually-hidden">Select</span></th>
              <th scope="col" class="num wide-only">Row</th>
              <th scope="col">Lead</th>
              <th scope="col" class="wide-only">Company</th>
              <th scope="col">Status</th>
              <th scope="col">Opening line, or why not</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>${leads.map(leadRow)}</tbody>
        </table>
      </div>
      ${nextCursor === null ? nothing : html`<p><button type="button" @click=${() => void loadLeads(true)}>Show more leads</button></p>`}`;
  };

  const dialog = () => {
    const lead = opened;
    return html`<dialog id="lead-dialog" aria-labelledby="lead-dialog-title" @close=${() => {
        opened = null;
        app.redraw();
      }}>
      ${lead === null ? nothing : leadDetail(lead)}
    </dialog>`;
  };

  const leadDetail = (/** @type {ResultLead} */ lead) => {
    const name = personName(lead.canonical) ?? lead.email;
    const outputs = Object.entries(lead.outputs);
    return html`<div class="dialog-head">
        <h2 id="lead-dialog-title">${name} <span class="muted">· ${lead.company}</span></h2>
        <form method="dialog"><button type="submit" class="close" aria-label="Close">×</button></form>
      </div>
      <p>${leadBadge(lead.enrichment_status)} ${lead.sandbox ? sandboxBadge : nothing} <span class="muted small">Row ${lead.row} · ${lead.email}</span></p>
      ${lead.error === null ? nothing : html`<p class="lead-error">${lead.error}</p>`}
      <section aria-labelledby="line-heading">
        <h3 id="line-heading">Opening line</h3>
        ${lead.personalized_message === null
          ? html`<p class="muted">Not written.</p>`
          : html`<blockquote class="line-quote">${lead.personalized_message}</blockquote>
              <button type="button" @click=${() => void copyLine(lead.personalized_message)}>Copy line</button>`}
      </section>
      <section aria-labelledby="basis-heading">
        <h3 id="basis-heading">The fact it relies on</h3>
        <p class="basis">${lead.message_basis ?? html`<span class="muted">—</span>`}</p>
      </section>
      ${outputs.length === 0
        ? nothing
        : html`<section aria-labelledby="outputs-heading">
            <h3 id="outputs-heading">Other outputs</h3>
            <dl class="pairs">${outputs.map(([key, value]) => html`<div><dt><code>${key}</code></dt><dd>${value}</dd></div>`)}</dl>
          </section>`}
      <section aria-labelledby="research-heading">
        <h3 id="research-heading">Research ${lead.research_cached ? html`<span class="muted small">(reused: not paid for by this lead)</span>` : nothing}</h3>
        <div class="research">${lead.research_summary ?? html`<span class="muted">No research yet.</span>`}</div>
        <h4>Sources</h4>
        ${lead.sources.length === 0
          ? html`<p class="muted">None cited.</p>`
          : html`<ul class="sources">
              ${lead.sources.map((url) => {
                const href = safeHref(url);
                return html`<li>${href === null ? html`<span>${url}</span>` : html`<a href=${href} target="_blank" rel="noopener noreferrer">${url}</a>`}</li>`;
              })}
            </ul>`}
      </section>
      <section aria-labelledby="details-heading">
        <h3 id="details-heading">Details</h3>
        <dl class="pairs">
          <div><dt>Writer model</dt><dd>${lead.model ?? '—'}</dd></div>
          <div><dt>Research model</dt><dd>${lead.research_model ?? '—'}</dd></div>
          <div><dt>Cost</dt><dd>${lead.sandbox ? 'sandbox: $0' : usd(lead.cost_usd)}</dd></div>
          <div><dt>Attempts</dt><dd>${lead.attempts}</dd></div>
          <div><dt>Updated</dt><dd>${when(lead.updated_at)}</dd></div>
        </dl>
        <details>
          <summary>The row as in your file</summary>
          <dl class="pairs">${Object.entries(lead.fields).map(([header, value]) => html`<div><dt>${header}</dt><dd>${value}</dd></div>`)}</dl>
        </details>
      </section>`;
  };

  return {
    get title() {
      return campaign?.name ?? 'Campaign';
    },
    dispose() {
      controller.abort();
      lifetime.abort();
    },
    template: () => html`
      ${campaign === null
        ? html`<p class="breadcrumbs"><a href="#/">Campaigns</a></p>
            <h1 tabindex="-1">Campaign</h1>
            ${error === null ? loading('the campaign') : errorBox(error)}`
        : html`
            ${header(campaign)}
            ${inProgress()
              ? html`<p class="notice-banner" role="status">A run is in progress:
                  <a href="#/campaigns/${id}/runs/${encodeURIComponent(/** @type {CampaignRun} */ (runs.find((run) => !runEnded(run))).id)}">watch it live</a>.</p>`
              : nothing}
            ${runs.length === 0 ? nothing : runsList()}
            ${actions()}
            <section class="card" aria-labelledby="results-heading">
              <h2 id="results-heading">Leads</h2>
              ${filters()}
              ${regenerating && selected.size > 0 ? regenerateForm() : nothing}
              ${errorBox(leadsError)}
              ${table()}
            </section>
            ${dialog()}
          `}
    `,
  };
}

/** The file name a Content-Disposition header gives (RFC 8187's `filename*` first). */
function fileNameOf(/** @type {string | null} */ header) {
  if (header === null) return null;
  const extended = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (extended?.[1] !== undefined) {
    try {
      return decodeURIComponent(extended[1]);
    } catch {
      // fall back to the plain name
    }
  }
  return /filename="([^"]+)"/i.exec(header)?.[1] ?? null;
}
