// A run, live: its progress by stage from the run's server-sent events (resumed after a dropped
// connection from the last event seen), its counts, ETA and notices, cancel, pause and resume,
// and its leads as they finish.

import { html, nothing } from 'lit-html';
import { accessToken, ApiError, getJson, request } from '../api.js';
import { count, duration, personName, runEnded, runStatusLabel, usd, when } from '../format.js';
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
  /** @type {string | null | undefined} the run's file; null: a re-run, with none; undefined: not known */
  let fileName;
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
  /**
   * Who each lead is (the stream's lead events carry ids and rows only): read once from the run's
   * results, its first leads in file order, which are the ones shown. Again only while the file
   * was still being read when they were last read (later leads were not recorded yet).
   * @type {Map<string, { name: string, company: string }>}
   */
  const who = new Map();
  /** @type {'never' | 'partial' | 'complete'} */
  let whoRead = 'never';
  let whoReading = false;
  const lifetime = new AbortController();
  const readWho = async () => {
    if (whoReading || whoRead === 'complete') return;
    whoReading = true;
    const complete = run !== null && run.status !== 'queued' && run.status !== 'extracting';
    try {
      const params = new URLSearchParams({ run_id: runId, limit: String(SHOWN_LEADS) });
      /** @type {{ leads: import('../types').ResultLead[] }} */
      const page = await getJson(`/api/campaigns/results/${encodeURIComponent(campaignId)}?${params}`, { signal: lifetime.signal });
      for (const lead of page.leads) who.set(lead.id, { name: personName(lead.canonical) ?? lead.email, company: lead.company });
      whoRead = complete ? 'complete' : 'partial';
      app.redraw();
    } catch {
      // Names are a help: the rows show without them.
    } finally {
      whoReading = false;
    }
  };

  const ticker = setInterval(() => {
    if (run?.eta) app.redraw();
  }, 1_000);

  /** The status first (a run that is not the user's is a 404 here, not a stream that retries). */
  const start = async () => {
    try {
      run = await getJson(`/api/campaigns/status/${encodeURIComponent(runId)}`);
      app.redraw();
      getJson(`/api/campaigns/${encodeURIComponent(campaignId)}`)
        .then((found) => {
          const campaign = /** @type {import('../types').Campaign} */ (found);
          campaignName = campaign.name;
          // Known when this run is the campaign's latest (as a run just started is).
          if (campaign.last_run?.id === runId) fileName = campaign.last_run.file_name;
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
      if (!who.has(lead.lead_id)) void readWho();
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

  /**
   * Moves the focus to the element with this id once the page is drawn: the button that had it
   * was disabled or replaced (Pause becomes Resume), which would leave the focus on the page's body.
   */
  const focusOn = (/** @type {string} */ id) => {
    app.redraw();
    /** @type {HTMLElement | null} */ (document.getElementById(id))?.focus();
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
      const next = /** @type {RunStatus} */ (run).status === 'paused' ? 'run-resume' : 'run-pause';
      focusOn(action === 'cancel' || document.getElementById(next) === null ? 'progress-heading' : next);
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
      ${fileName === null
        ? html`<li class=${state(!reading, reading)}>
            <span class="stage-name">Leads to run again</span>
            <span class="stage-detail">${count(r.valid)} lead${r.valid === 1 ? '' : 's'} of the campaign, no file</span>
          </li>`
        : html`<li class=${state(!reading, reading)}>
            <span class="stage-name">Read the file</span>
            <span class="stage-detail">${reading ? 'reading…' : `${count(r.valid)} valid of ${count(r.total_rows)} rows; ${count(r.rejected_rows)} rejected, ${count(r.duplicates)} duplicate${r.duplicates === 1 ? '' : 's'}`}</span>
          </li>`}
      <li class=${state(ended || (!reading && settled >= r.valid && r.valid > 0), !reading && !ended)}>
        <span class="stage-name">Research and write</span>
        <span class="stage-detail">${count(settled)} of ${count(r.valid)} leads done${r.research_cache_hits > 0 ? `; ${count(r.research_cache_hits)} reused their company's research` : ''}</span>
        ${reading ? nothing : html`<progress max=${Math.max(r.valid, 1)} .value=${settled} aria-label="Leads done">${settled} of ${r.valid}</progress>`}
      </li>
      <li class=${state(ended, false)}>
        <span class="stage-name">Done</span>
        <span class="stage-detail">${doneDetail(r, ended)}</span>
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
        ? html`<button id="run-resume" type="button" class="primary" ?disabled=${acting} @click=${() => void control('resume')}>Resume</button>`
        : html`<button id="run-pause" type="button" ?disabled=${acting} @click=${() => void control('pause')}>Pause</button>`}
      ${confirmingCancel
        ? html`<span class="confirm" role="group" aria-label="Confirm cancel">
            <span id="cancel-question">Cancel the run? Leads not started end cancelled.</span>
            <button id="run-cancel-confirm" type="button" class="danger" ?disabled=${acting} @click=${() => void control('cancel')}>Yes, cancel the run</button>
            <button id="run-cancel-keep" type="button" aria-describedby="cancel-question" @click=${() => {
              confirmingCancel = false;
              focusOn('run-cancel');
            }}>Keep it running</button>
          </span>`
        : html`<button id="run-cancel" type="button" class="danger" ?disabled=${acting} @click=${() => {
            confirmingCancel = true;
            // The safe answer first: Enter pressed twice keeps the run.
            focusOn('run-cancel-keep');
          }}>Cancel run</button>`}
    </div>`;
  };

  const leadRows = () => {
    const shown = [...leads.values()].sort((a, b) => a.row - b.row).slice(0, SHOWN_LEADS);
    if (shown.length === 0) return html`<p class="muted">Leads appear here as they finish.</p>`;
    return html`<div class="table-wrap">
      <table class="live-leads">
        <caption class="visually-hidden">Leads of this run as they finish</caption>
        <thead><tr><th scope="col" class="num">Row</th><th scope="col">Lead</th><th scope="col">Status</th><th scope="col">Opening line, or why not</th></tr></thead>
        <tbody>
          ${shown.map(
            (lead) => html`<tr>
              <td class="num">${lead.row}</td>
              <td class="lead-cell">${leadWho(who.get(lead.lead_id))}</td>
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
      lifetime.abort();
      clearInterval(ticker);
      clearTimeout(reconnectTimer);
      source?.close();
    },
    template: () => html`
      <p class="breadcrumbs"><a href="#/">Campaigns</a> › <a href="#/campaigns/${encodeURIComponent(campaignId)}">${campaignName ?? 'Campaign'}</a> › Run</p>
      <div class="page-head">
        <h1 tabindex="-1">${campaignName ?? 'Run'}</h1>
        ${run === null ? nothing : html`<span class="badges">${runBadge(run.status)} ${run.sandbox ? sandboxBadge : nothing}</span>`}
      </div>
      ${errorBox(error)}
      ${run === null
        ? error === null ? loading('the run') : nothing
        : html`
            <section class="card" aria-labelledby="progress-heading">
              <div class="section-head">
                <h2 id="progress-heading" tabindex="-1">Progress</h2>
                <span class="connection ${connection}" role="status">${{ connecting: 'Connecting…', live: 'Live', reconnecting: 'Connection lost: reconnecting…', ended: runEnded(run) ? 'Finished' : '' }[connection]}</span>
              </div>
              ${stages(run)}
              ${counts(run)}
              ${run.notices.length === 0
                ? nothing
                : html`<ul class="notices" aria-label="Notices">${run.notices.map((notice) => html`<li class="notice notice-${notice.code}">${noticeText(notice)}</li>`)}</ul>`}
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

/**
 * When the run ends, in words: its end, or the time left, or why there is none (paused, or
 * cancelled with the leads not started still being closed).
 * @param {RunStatus} r
 * @param {boolean} ended
 */
function doneDetail(r, ended) {
  if (ended) return when(r.completed_at);
  if (r.status === 'cancelled') return `cancelling: closing the ${count(Math.max(0, r.valid - r.skipped - r.suppressed - r.processed - r.cancelled))} leads not finished`;
  if (r.status === 'paused') return 'on hold while the run is paused';
  if (r.eta === null) return 'time left unknown yet';
  return `about ${duration(Math.max(0, (Date.parse(r.eta.at) - Date.now()) / 1000))} left`;
}

/** A notice as the page says it: the paused one names the button, not the API route the API's text gives. */
function noticeText(/** @type {import('../types').Notice} */ notice) {
  if (notice.code === 'paused') return 'Paused: no provider call is made until you resume the run.';
  return notice.message;
}

/** A lead's name and company, once known. */
function leadWho(/** @type {{ name: string, company: string } | undefined} */ lead) {
  if (lead === undefined) return html`<span class="muted">…</span>`;
  return html`<span class="lead-name">${lead.name}</span><br /><span class="muted small lead-company">${lead.company}</span>`;
}
