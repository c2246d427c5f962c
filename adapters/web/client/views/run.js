// A run, live: its progress by stage from the run's server-sent events (resumed after a dropped
// connection from the last event seen), its counts, ETA and notices, cancel, pause and resume,
// and its leads as they finish.

import { html, nothing } from 'lit-html';
import { accessToken, ApiError, getJson, request } from '../api.js';
import { count, duration, runEnded, runStatusLabel, usd, when } from '../format.js';
import { errorBox, leadBadge, loading, runBadge, sandboxBadge } from '../ui.js';

/** @typedef {import('../types').RunStatus} RunStatus */
/** @typedef {import('../types').LeadEvent} LeadEvent */

/** Leads shown live; the results page has all of them. */
const SHOWN_LEADS = 200;
const MAX_RECONNECT_MS = 30_000;

/**
 * @param {import('../ui.js').App} app
 * @param {string} campaignId
 * @param {string} runId
 * @returns {import('../types').View}
 */
export function runView(app, campaignId, runId) {
  /** @type {RunStatus | null} */
  let run = null;
  /** @type {string | null} */
  let campaignName = null;
  /** @type {Map<string, LeadEvent>} */
  const leads = new Map();
  let earlier = false;
  /** @type {'connecting' | 'live' | 'reconnecting' | 'ended'} */
  let connection = 'connecting';
  /** @type {string | null} the last event id seen: where a new connection resumes */
  let lastEventId = null;
  /** @type {EventSource | null} */
  let source = null;
  let reconnectMs = 1_000;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let reconnectTimer;
  /** @type {unknown} */
  let error = null;
  /** @type {unknown} */
  let actionError = null;
  let acting = false;
  let disposed = false;
  let confirmingCancel = false;
  const ticker = setInterval(() => {
    if (run?.eta) app.redraw();
  }, 1_000);

  /** The status first (a run that is not the user's is a 404 here, not a stream that retries). */
  const start = async () => {
    try {
      run = await getJson(`/api/campaigns/status/${encodeURIComponent(runId)}`);
      app.redraw();
      getJson(`/api/campaigns/${encodeURIComponent(campaignId)}`)
        .then((campaign) => {
          campaignName = /** @type {{ name: string }} */ (campaign).name;
          app.redraw();
        })
        .catch(() => undefined);
      connect();
    } catch (failure) {
      error = failure;
      connection = 'ended';
      app.redraw();
    }
  };

  const connect = async () => {
    if (disposed) return;
    const token = await accessToken();
    const params = new URLSearchParams();
    if (token !== null) params.set('access_token', token);
    if (lastEventId !== null) params.set('lastEventId', lastEventId);
    const stream = new EventSource(`/api/campaigns/events/${encodeURIComponent(runId)}?${params}`);
    source = stream;
    /** @param {MessageEvent} event */
    const seen = (event) => {
      if (event.lastEventId !== '') lastEventId = event.lastEventId;
    };
    stream.addEventListener('summary', (event) => {
      seen(event);
      const summary = JSON.parse(event.data);
      run = summary;
      earlier = summary.earlier_leads === true;
      connection = 'live';
      reconnectMs = 1_000;
      app.redraw();
    });
    stream.addEventListener('lead', (event) => {
      seen(event);
      /** @type {LeadEvent} */
      const lead = JSON.parse(event.data);
      leads.set(lead.lead_id, lead);
      app.redraw();
    });
    stream.addEventListener('status', (event) => {
      seen(event);
      run = JSON.parse(event.data);
      app.redraw();
    });
    stream.addEventListener('end', async (event) => {
      seen(event);
      stream.close();
      connection = 'ended';
      // The final figures (cost, completed_at) from the status itself.
      run = await getJson(`/api/campaigns/status/${encodeURIComponent(runId)}`).catch(() => run);
      app.announce(`The run has ended: ${runStatusLabel(/** @type {RunStatus} */ (run).status).toLowerCase()}.`);
    });
    stream.onerror = () => {
      if (disposed || connection === 'ended') return;
      connection = 'reconnecting';
      app.redraw();
      // EventSource reconnects by itself (sending Last-Event-ID) unless the server refused it
      // (an expired token, too many streams): then a new one, with a fresh token, from the last id.
      if (stream.readyState === EventSource.CLOSED) {
        clearTimeout(reconnectTimer);
        reconnectTimer = setTimeout(() => void reconnect(), reconnectMs);
        reconnectMs = Math.min(reconnectMs * 2, MAX_RECONNECT_MS);
      }
    };
  };

  const reconnect = async () => {
    try {
      run = await getJson(`/api/campaigns/status/${encodeURIComponent(runId)}`);
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 404) {
        error = failure;
        connection = 'ended';
        app.redraw();
        return;
      }
    }
    void connect();
  };

  /** @param {'cancel' | 'pause' | 'resume'} action */
  const control = async (action) => {
    acting = true;
    actionError = null;
    confirmingCancel = false;
    app.redraw();
    try {
      const response = await request(`/api/campaigns/runs/${encodeURIComponent(runId)}/${action}`, { method: 'POST' });
      run = await response.json();
      app.announce({ cancel: 'Run cancelled.', pause: 'Run paused: no new provider call starts until you resume it.', resume: 'Run resumed.' }[action]);
    } catch (failure) {
      actionError = failure;
    } finally {
      acting = false;
      app.redraw();
    }
  };

  void start();

  const stages = (/** @type {RunStatus} */ r) => {
    const reading = r.status === 'queued' || r.status === 'extracting';
    const settled = r.skipped + r.suppressed + r.processed + r.cancelled;
    const ended = runEnded(r);
    /** @param {boolean} done @param {boolean} current */
    const state = (done, current) => (done ? 'done' : current ? 'current' : 'waiting');
    return html`<ol class="stages" aria-label="Stages">
      <li class=${state(!reading, reading)}>
        <span class="stage-name">Read the file</span>
        <span class="stage-detail">${reading ? 'reading…' : `${count(r.valid)} valid of ${count(r.total_rows)} rows; ${count(r.rejected_rows)} rejected, ${count(r.duplicates)} duplicate${r.duplicates === 1 ? '' : 's'}`}</span>
      </li>
      <li class=${state(ended || (!reading && settled >= r.valid && r.valid > 0), !reading && !ended)}>
        <span class="stage-name">Research and write</span>
        <span class="stage-detail">${count(settled)} of ${count(r.valid)} leads done${r.research_cache_hits > 0 ? `; ${count(r.research_cache_hits)} reused their company's research` : ''}</span>
        ${reading ? nothing : html`<progress max=${Math.max(r.valid, 1)} .value=${settled} aria-label="Leads done">${settled} of ${r.valid}</progress>`}
      </li>
      <li class=${state(ended, false)}>
        <span class="stage-name">Done</span>
        <span class="stage-detail">${ended ? when(r.completed_at) : r.eta === null ? 'time left unknown yet' : `about ${duration(Math.max(0, (Date.parse(r.eta.at) - Date.now()) / 1000))} left`}</span>
      </li>
    </ol>`;
  };

  const counts = (/** @type {RunStatus} */ r) => html`<dl class="figures">
    <div><dt>Personalized</dt><dd class="good">${count(r.personalized)}</dd></div>
    <div><dt>Needs review</dt><dd>${count(r.needs_review)}</dd></div>
    <div><dt>Failed</dt><dd class=${r.failed > 0 ? 'bad' : ''}>${count(r.failed)}</dd></div>
    <div><dt>Suppressed</dt><dd>${count(r.suppressed)}</dd></div>
    ${r.skipped > 0 ? html`<div><dt>Already done</dt><dd>${count(r.skipped)}</dd></div>` : nothing}
    ${r.cancelled > 0 ? html`<div><dt>Cancelled</dt><dd>${count(r.cancelled)}</dd></div>` : nothing}
    <div><dt>Cost</dt><dd>${r.sandbox ? 'sandbox: $0' : usd(r.cost_usd)}</dd></div>
  </dl>`;

  const controls = (/** @type {RunStatus} */ r) => {
    if (runEnded(r) || r.status === 'cancelled') return nothing;
    return html`<div class="actions run-controls">
      ${r.status === 'paused'
        ? html`<button type="button" class="primary" ?disabled=${acting} @click=${() => void control('resume')}>Resume</button>`
        : html`<button type="button" ?disabled=${acting} @click=${() => void control('pause')}>Pause</button>`}
      ${confirmingCancel
        ? html`<span class="confirm" role="group" aria-label="Confirm cancel">
            <span>Cancel the run? Leads not started end cancelled.</span>
            <button type="button" class="danger" ?disabled=${acting} @click=${() => void control('cancel')}>Yes, cancel the run</button>
            <button type="button" @click=${() => {
              confirmingCancel = false;
              app.redraw();
            }}>Keep it running</button>
          </span>`
        : html`<button type="button" class="danger" ?disabled=${acting} @click=${() => {
            confirmingCancel = true;
            app.redraw();
          }}>Cancel run</button>`}
    </div>`;
  };

  const leadRows = () => {
    const shown = [...leads.values()].sort((a, b) => a.row - b.row).slice(0, SHOWN_LEADS);
    if (shown.length === 0) return html`<p class="muted">Leads appear here as they finish.</p>`;
    return html`<div class="table-wrap">
      <table class="live-leads">
        <caption class="visually-hidden">Leads of this run as they finish</caption>
        <thead><tr><th scope="col" class="num">Row</th><th scope="col">Status</th><th scope="col">Opening line, or why not</th></tr></thead>
        <tbody>
          ${shown.map(
            (lead) => html`<tr>
              <td class="num">${lead.row}</td>
              <td>${leadBadge(lead.status)}</td>
              <td class="line">${lead.message ?? html`<span class="muted">${lead.error ?? ''}</span>`}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${earlier || leads.size > SHOWN_LEADS ? html`<p class="muted small">Earlier leads are in the <a href="#/campaigns/${encodeURIComponent(campaignId)}">results</a>.</p>` : nothing}`;
  };

  return {
    get title() {
      return `Run${campaignName === null ? '' : `: ${campaignName}`}`;
    },
    dispose() {
      disposed = true;
      clearInterval(ticker);
      clearTimeout(reconnectTimer);
      source?.close();
    },
    template: () => html`
      <p class="breadcrumbs"><a href="#/">Campaigns</a> › <a href="#/campaigns/${encodeURIComponent(campaignId)}">${campaignName ?? 'Campaign'}</a> › Run</p>
      <div class="page-head">
        <h1 tabindex="-1">${campaignName ?? 'Run'}</h1>
        ${run === null ? nothing : html`${runBadge(run.status)} ${run.sandbox ? sandboxBadge : nothing}`}
      </div>
      ${errorBox(error)}
      ${run === null
        ? error === null ? loading('the run') : nothing
        : html`
            <section class="card" aria-labelledby="progress-heading">
              <div class="section-head">
                <h2 id="progress-heading">Progress</h2>
                <span class="connection ${connection}" role="status">${{ connecting: 'Connecting…', live: 'Live', reconnecting: 'Connection lost: reconnecting…', ended: runEnded(run) ? 'Finished' : '' }[connection]}</span>
              </div>
              ${stages(run)}
              ${counts(run)}
              ${run.notices.length === 0
                ? nothing
                : html`<ul class="notices" aria-label="Notices">${run.notices.map((notice) => html`<li class="notice notice-${notice.code}">${notice.message}</li>`)}</ul>`}
              ${run.error_message === null ? nothing : html`<p class="run-message">${run.error_message}</p>`}
              ${errorBox(actionError)}
              ${controls(run)}
              ${runEnded(run) ? html`<p><a class="button primary" href="#/campaigns/${encodeURIComponent(campaignId)}">See the results</a></p>` : nothing}
            </section>
            <section class="card" aria-labelledby="leads-heading">
              <div class="section-head">
                <h2 id="leads-heading">Leads</h2>
                <a href="#/campaigns/${encodeURIComponent(campaignId)}">All results</a>
              </div>
              ${leadRows()}
            </section>
          `}
    `,
  };
}
