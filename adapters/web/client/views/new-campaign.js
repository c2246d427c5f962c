// A new campaign (or another file for one): drop a CSV, see how it was read (each column and what
// it was taken for, the first rows, the rejected rows and why, duplicates, the cost estimate), set
// the prompts (a saved template, the file's columns as variables), then start the run.

import { html, nothing } from 'lit-html';
import { getJson, idempotencyKey, request, ApiError } from '../api.js';
import { count, fieldLabel, usd } from '../format.js';
import { errorBox, loading } from '../ui.js';

/** @typedef {import('../types').Preview} Preview */
/** @typedef {import('../types').Template} Template */
/** @typedef {import('../types').CampaignDetail} CampaignDetail */

/** Columns a prompt may not name: their values never reach a provider (the API refuses them). */
const PRIVATE_FIELDS = new Set(['email', 'phone']);
const SAMPLE_ROWS = 10;

/**
 * @param {import('../ui.js').App} app
 * @param {string | null} campaignId another file for this campaign; null: a new campaign
 * @returns {import('../types').View}
 */
export function newCampaignView(app, campaignId) {
  /** @type {CampaignDetail | null} */
  let campaign = null;
  /** @type {string | null} */
  let targetId = campaignId;
  /** @type {File | null} */
  let file = null;
  /** @type {Preview | null} */
  let preview = null;
  let previewing = false;
  /** @type {unknown} */
  let previewError = null;
  /** @type {Template[]} */
  let templates = [];
  /** @type {Template | null} */
  let template = null;
  let name = '';
  /** Whether the name is the file's (then the next file's name replaces it) or one the user typed. */
  let nameFromFile = true;
  let researchPrompt = '';
  let personalizationPrompt = '';
  let allowQuestions = false;
  let templateName = '';
  let savingTemplate = false;
  /** @type {unknown} */
  let templateError = null;
  let starting = false;
  /** @type {unknown} */
  let startError = null;
  /** @type {string | null} kept while a submission is retried after a network failure */
  let submissionKey = null;
  let dragging = false;
  /** @type {unknown} */
  let campaignError = null;
  const controller = new AbortController();
  /** The file being read: choosing another one abandons it, so that a late answer never shows the wrong file's report. */
  let previewController = new AbortController();

  const loadCampaign = async (/** @type {string} */ id) => {
    try {
      campaign = await getJson(`/api/campaigns/${encodeURIComponent(id)}`, { signal: controller.signal });
      if (campaign !== null) {
        researchPrompt = campaign.research_prompt ?? '';
        personalizationPrompt = campaign.personalization_prompt ?? '';
        allowQuestions = campaign.allow_questions;
      }
    } catch (failure) {
      campaignError = failure;
    }
    app.redraw();
  };

  const loadTemplates = async () => {
    try {
      templates = (await getJson('/api/templates', { signal: controller.signal })).templates;
    } catch {
      templates = [];
    }
    app.redraw();
  };

  if (targetId !== null) void loadCampaign(targetId);
  void loadTemplates();

  /** @param {File} chosen */
  const choose = async (chosen) => {
    file = chosen;
    preview = null;
    previewError = null;
    startError = null;
    submissionKey = null;
    previewing = true;
    if (targetId === null && (nameFromFile || name.trim() === '')) {
      name = chosen.name.replace(/\.[^.]+$/, '').replace(/[_-]+/g, ' ').trim();
      nameFromFile = true;
    }
    previewController.abort();
    const reading = new AbortController();
    previewController = reading;
    app.redraw();
    const form = new FormData();
    form.append('csv_file', chosen, chosen.name);
    try {
      /** @type {Preview} */
      const report = await getJson(`/api/campaigns/preview?limit=${SAMPLE_ROWS}`, { method: 'POST', form, signal: AbortSignal.any([controller.signal, reading.signal]) });
      preview = report;
      app.announce(`File read: ${count(report.valid)} valid lead${report.valid === 1 ? '' : 's'}.`);
    } catch (failure) {
      if (reading.signal.aborted || controller.signal.aborted) return;
      previewError = failure;
    } finally {
      if (previewController === reading) previewing = false;
      app.redraw();
    }
  };

  /** @param {Event} event */
  const onFile = (event) => {
    const input = /** @type {HTMLInputElement} */ (event.currentTarget);
    const chosen = input.files?.[0];
    if (chosen !== undefined) void choose(chosen);
  };

  /** @param {DragEvent} event */
  const onDrop = (event) => {
    event.preventDefault();
    dragging = false;
    const chosen = event.dataTransfer?.files[0];
    if (chosen !== undefined) void choose(chosen);
    else app.redraw();
  };

  /** @param {string} id */
  const pickTemplate = (id) => {
    template = templates.find((candidate) => candidate.id === id) ?? null;
    if (template !== null) {
      personalizationPrompt = template.personalization_prompt;
      researchPrompt = template.research_prompt ?? '';
    }
    app.redraw();
  };

  /**
   * Saves the prompts as a template (the only way to get one without the API), and chooses it.
   * The focus goes to the template list, which now holds it, or to the problem.
   */
  const saveTemplate = async () => {
    templateError = null;
    if (personalizationPrompt.trim() === '') templateError = new Error('Write a personalization prompt first: a template keeps your prompts.');
    else if (templateName.trim() === '') templateError = new Error('Give the template a name.');
    if (templateError !== null) {
      app.redraw();
      /** @type {HTMLElement | null} */ (document.querySelector('#save-template .error'))?.focus();
      return;
    }
    savingTemplate = true;
    app.redraw();
    /** @type {Record<string, unknown>} */
    const body = { name: templateName.trim(), personalization_prompt: personalizationPrompt };
    if (researchPrompt.trim() !== '') body.research_prompt = researchPrompt;
    try {
      const response = await request('/api/templates', { method: 'POST', json: body, signal: controller.signal });
      /** @type {Template} */
      const saved = await response.json();
      templates = [...templates.filter((candidate) => candidate.id !== saved.id), saved].sort((a, b) => a.name.localeCompare(b.name));
      template = saved;
      templateName = '';
      app.announce(`Template “${saved.name}” saved: it is in the list for your next campaigns.`);
    } catch (failure) {
      if (controller.signal.aborted) return;
      templateError = failure;
    } finally {
      savingTemplate = false;
      app.redraw();
    }
    /** @type {HTMLElement | null} */ (document.querySelector('#save-template .error') ?? document.getElementById('template'))?.focus();
  };

  /** Inserts `{{name}}` where the cursor is in the personalization prompt. */
  const insertVariable = (/** @type {string} */ variable) => {
    const area = /** @type {HTMLTextAreaElement | null} */ (document.getElementById('personalization-prompt'));
    const token = `{{${variable}}}`;
    if (area === null) return;
    const start = area.selectionStart ?? personalizationPrompt.length;
    const end = area.selectionEnd ?? start;
    personalizationPrompt = personalizationPrompt.slice(0, start) + token + personalizationPrompt.slice(end);
    app.redraw();
    area.focus();
    area.setSelectionRange(start + token.length, start + token.length);
  };

  /** @param {SubmitEvent} event */
  const start = async (event) => {
    event.preventDefault();
    if (file === null || preview === null) return;
    starting = true;
    startError = null;
    app.redraw();
    const form = new FormData();
    form.append('csv_file', file, file.name);
    if (targetId !== null) form.append('campaign_id', targetId);
    else form.append('campaign_name', name.trim());
    if (template !== null) form.append('template_id', template.id);
    if (researchPrompt.trim() !== '') form.append('research_prompt', researchPrompt);
    if (personalizationPrompt.trim() !== '') form.append('personalization_prompt', personalizationPrompt);
    form.append('allow_questions', allowQuestions ? 'true' : 'false');
    submissionKey ??= idempotencyKey();
    try {
      const response = await request('/api/campaigns/process', { method: 'POST', form, headers: { 'Idempotency-Key': submissionKey }, signal: controller.signal });
      /** @type {import('../types').Accepted} */
      const accepted = await response.json();
      // In place of the form: Back goes to where the user came from, not to an empty form that
      // looks as if the campaign had not started.
      app.navigate(`#/campaigns/${encodeURIComponent(accepted.campaign_id)}/runs/${encodeURIComponent(accepted.run_id)}`, { replace: true });
    } catch (failure) {
      // A network failure may have left the run recorded: the same key makes the retry safe.
      if (!(failure instanceof ApiError && failure.status === 0)) submissionKey = null;
      startError = failure;
      starting = false;
      app.redraw();
      // The Start button was disabled while it worked, which dropped the focus: give it to the error.
      /** @type {HTMLElement | null} */ (document.querySelector('#settings-form .error'))?.focus();
    }
  };

  /** The campaign a taken name belongs to (the 409 names it): the file goes there instead. */
  const useExisting = async (/** @type {string} */ id) => {
    targetId = id;
    startError = null;
    campaignError = null;
    app.redraw();
    // The button is gone: the form's heading, now "Prompts for this run", takes the focus.
    /** @type {HTMLElement | null} */ (document.getElementById('settings-heading'))?.focus();
    await loadCampaign(id);
  };

  /** The file's columns as it names them (a canonical name such as first_name works too, whatever the header). */
  const variables = () => {
    if (preview === null) return [];
    return [...new Set(preview.columns.filter((column) => column.canonical === null || !PRIVATE_FIELDS.has(column.canonical)).map((column) => column.original))];
  };

  const dropZone = () => html`<div class="dropzone ${dragging ? 'dragging' : ''}"
      @dragover=${(/** @type {DragEvent} */ event) => {
        event.preventDefault();
        if (!dragging) {
          dragging = true;
          app.redraw();
        }
      }}
      @dragleave=${() => {
        dragging = false;
        app.redraw();
      }}
      @drop=${onDrop}>
      <input id="csv-file" class="visually-hidden" type="file" accept=".csv,.tsv,.txt,text/csv" @change=${onFile} aria-describedby="csv-help" />
      <label for="csv-file">
        <strong>${file === null ? 'Choose a CSV file' : 'Choose another file'}</strong>
        <span>or drop it here</span>
      </label>
      <p id="csv-help" class="muted small">Any export works (Apollo, HubSpot, Salesforce, LinkedIn, lemlist, a sheet…): UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or pipe; up to 10 MB. Each lead needs an email and a company.</p>
      ${file === null ? nothing : html`<p class="file-name">File: <strong>${file.name}</strong></p>`}
    </div>`;

  const columnsTable = (/** @type {Preview} */ report) => html`<section aria-labelledby="columns-heading">
    <h3 id="columns-heading">Columns</h3>
    <div class="table-wrap">
      <table class="columns">
        <caption class="visually-hidden">Each column of the file and what it was read as</caption>
        <thead><tr><th scope="col">Column in your file</th><th scope="col">Read as</th></tr></thead>
        <tbody>
          ${report.columns.map(
            (column) => html`<tr>
              <th scope="row">${column.original}</th>
              <td>${column.canonical === null ? html`<span class="muted">kept as is (a variable)</span>` : html`<span class="badge field">${fieldLabel(column.canonical)}</span>`}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
  </section>`;

  const sampleTable = (/** @type {Preview} */ report) => {
    const shown = ['first_name', 'last_name', 'full_name', 'title', 'website'].filter((field) => report.leads.some((lead) => typeof lead[field] === 'string'));
    return html`<section aria-labelledby="sample-heading">
      <h3 id="sample-heading">First rows</h3>
      ${report.leads.length === 0
        ? html`<p class="muted">No valid lead to show.</p>`
        : html`<div class="table-wrap">
            <table class="sample">
              <caption class="visually-hidden">The file's first ${report.leads.length} valid leads</caption>
              <thead>
                <tr>
                  <th scope="col" class="num">Row</th>
                  <th scope="col">Email</th>
                  <th scope="col">Company</th>
                  ${shown.map((field) => html`<th scope="col" class="wide-only">${fieldLabel(field)}</th>`)}
                </tr>
              </thead>
              <tbody>
                ${report.leads.map(
                  (lead) => html`<tr>
                    <td class="num">${lead.row}</td>
                    <td>${lead.email}</td>
                    <td>${lead.company}</td>
                    ${shown.map((field) => html`<td class="wide-only">${typeof lead[field] === 'string' ? lead[field] : ''}</td>`)}
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`}
    </section>`;
  };

  const rejectedList = (/** @type {Preview} */ report) => html`<section aria-labelledby="rejected-heading">
    <h3 id="rejected-heading">Rejected rows <span class="count">${count(report.rejected.length)}</span></h3>
    ${report.rejected.length === 0
      ? html`<p class="muted">None: every row is a lead or a duplicate.</p>`
      : html`<ul class="rejected">
          ${report.rejected.slice(0, 100).map((entry) => html`<li><span class="row-number">Row ${entry.row}</span> ${entry.reason.replace(/^row \d+: /, '')}</li>`)}
        </ul>
        ${report.rejected.length > 100 ? html`<p class="muted small">And ${count(report.rejected.length - 100)} more: the export lists every one.</p>` : nothing}`}
  </section>`;

  const suppressedList = (/** @type {Preview} */ report) =>
    report.suppressed.length === 0
      ? nothing
      : html`<section aria-labelledby="suppressed-heading">
          <h3 id="suppressed-heading">On your suppression list <span class="count">${count(report.suppressed.length)}</span></h3>
          <ul class="rejected">
            ${report.suppressed.slice(0, 100).map((entry) => html`<li><span class="row-number">Row ${entry.row}</span> ${entry.reason.replace(/^Suppressed: /, '')}</li>`)}
          </ul>
          ${report.suppressed.length > 100 ? html`<p class="muted small">And ${count(report.suppressed.length - 100)} more.</p>` : nothing}
        </section>`;

  const summary = (/** @type {Preview} */ report) => html`<section class="card" aria-labelledby="summary-heading">
    <h2 id="summary-heading">How the file was read</h2>
    <dl class="figures">
      <div><dt>Rows</dt><dd>${count(report.total_rows)}</dd></div>
      <div><dt>Valid leads</dt><dd class="good">${count(report.valid)}</dd></div>
      <div><dt>Duplicates</dt><dd>${count(report.duplicates)}</dd></div>
      <div><dt>Rejected</dt><dd class=${report.rejected.length > 0 ? 'bad' : ''}>${count(report.rejected.length)}</dd></div>
      <div><dt>Suppressed</dt><dd>${count(report.suppressed.length)}</dd></div>
      <div><dt>Estimated cost</dt><dd>${report.estimate.sandbox ? 'sandbox: $0' : usd(report.estimate.total_usd)}</dd></div>
    </dl>
    <p class="muted small estimate-basis">${report.estimate.sandbox ? report.estimate.basis : html`${usd(report.estimate.per_lead_usd)} a lead; ${report.estimate.basis}.`}</p>
    <p class="muted small">Duplicates (the same email again) keep their first row. Leads on your suppression list are never researched or written, and cost nothing (the estimate still counts them).</p>
    ${columnsTable(report)} ${sampleTable(report)} ${rejectedList(report)} ${suppressedList(report)}
  </section>`;

  const settings = (/** @type {Preview} */ report) => html`<form id="settings-form" class="card stack" aria-labelledby="settings-heading" @submit=${start}>
    <h2 id="settings-heading" tabindex="-1">${targetId === null ? 'Name and prompts' : 'Prompts for this run'}</h2>
    ${targetId === null
      ? html`<div class="field">
          <label for="campaign-name">Campaign name</label>
          <input id="campaign-name" type="text" required maxlength="200" .value=${name}
            @input=${(/** @type {InputEvent} */ event) => {
              name = /** @type {HTMLInputElement} */ (event.currentTarget).value;
              nameFromFile = false;
            }} />
        </div>`
      : html`<p>Adds a run to <strong>${campaign?.name ?? 'the campaign'}</strong>: leads it already personalized are skipped, failed ones tried again.</p>`}
    <div class="field">
      <label for="template">Template</label>
      <select id="template" @change=${(/** @type {Event} */ event) => pickTemplate(/** @type {HTMLSelectElement} */ (event.currentTarget).value)}>
        <option value="" .selected=${template === null}>${templates.length === 0 ? 'No saved template' : 'None: write the prompts below'}</option>
        ${templates.map((saved) => html`<option value=${saved.id} .selected=${template?.id === saved.id}>${saved.name}</option>`)}
      </select>
      ${template !== null && template.outputs.length > 0
        ? html`<p class="muted small">This template also writes: ${template.outputs.map((output, index) => html`${index > 0 ? ', ' : ''}<code>${output.name}</code> (at most ${output.max_words} words)`)}.</p>`
        : nothing}
    </div>
    <div class="field">
      <label for="research-prompt">Research prompt <span class="muted">(optional)</span></label>
      <textarea id="research-prompt" rows="3" maxlength="4000" aria-describedby="research-help" .value=${researchPrompt}
        @input=${(/** @type {InputEvent} */ event) => (researchPrompt = /** @type {HTMLTextAreaElement} */ (event.currentTarget).value)}></textarea>
      <p id="research-help" class="muted small">What to look for about each company, on top of recent, verifiable facts. Blank: the default research.</p>
    </div>
    <div class="field">
      <label for="personalization-prompt">Personalization prompt <span class="muted">(optional)</span></label>
      <textarea id="personalization-prompt" rows="4" maxlength="4000" aria-describedby="personalization-help variables-help" .value=${personalizationPrompt}
        @input=${(/** @type {InputEvent} */ event) => (personalizationPrompt = /** @type {HTMLTextAreaElement} */ (event.currentTarget).value)}></textarea>
      <p id="personalization-help" class="muted small">How to write each opening line. Blank: the default (one grounded sentence of at most 25 words).</p>
      <div class="variables">
        <p id="variables-help" class="small">Variables from your file (click to insert; <code>{{name | "fallback"}}</code> for a default):</p>
        <ul class="chips" aria-label="Variables">
          ${variables().map((variable) => html`<li><button type="button" class="chip" @click=${() => insertVariable(variable)}>{{${variable}}}</button></li>`)}
        </ul>
      </div>
    </div>
    <details id="save-template" class="save-template">
      <summary>Save these prompts as a template</summary>
      <div class="field">
        <label for="template-name">Template name</label>
        <input id="template-name" type="text" maxlength="200" .value=${templateName}
          @input=${(/** @type {InputEvent} */ event) => (templateName = /** @type {HTMLInputElement} */ (event.currentTarget).value)}
          @keydown=${(/** @type {KeyboardEvent} */ event) => {
            // Enter here saves the template; it must not start the run.
            if (event.key === 'Enter') {
              event.preventDefault();
              void saveTemplate();
            }
          }} />
      </div>
      <p><button type="button" ?disabled=${savingTemplate} @click=${() => void saveTemplate()}>${savingTemplate ? 'Saving…' : 'Save as a template'}</button></p>
      ${errorBox(templateError)}
    </details>
    <div class="field checkbox">
      <input id="allow-questions" type="checkbox" .checked=${allowQuestions}
        @change=${(/** @type {Event} */ event) => (allowQuestions = /** @type {HTMLInputElement} */ (event.currentTarget).checked)} />
      <label for="allow-questions">The opening line may be a question</label>
    </div>
    ${startError instanceof ApiError && typeof startError.problem.campaign_id === 'string' && targetId === null
      ? html`<div class="error" role="alert" tabindex="-1">
          <p>You already have a campaign named “${name.trim()}” (names are compared ignoring case). Choose another name, or add this file to that campaign.</p>
          <p><button type="button" @click=${() => void useExisting(/** @type {string} */ (/** @type {ApiError} */ (startError).problem.campaign_id))}>Add this file to that campaign instead</button></p>
        </div>`
      : errorBox(startError)}
    <div class="actions">
      <button type="submit" class="primary" ?disabled=${starting || report.valid === 0}>
        ${starting ? 'Starting…' : `Start: ${count(report.valid)} lead${report.valid === 1 ? '' : 's'}${report.estimate.sandbox ? ' (sandbox, $0)' : `, about ${usd(report.estimate.total_usd)}`}`}
      </button>
      <a href=${targetId === null ? '#/' : `#/campaigns/${encodeURIComponent(targetId)}`}>Cancel</a>
    </div>
  </form>`;

  return {
    get title() {
      return targetId === null ? 'New campaign' : `Add a file: ${campaign?.name ?? ''}`;
    },
    dispose: () => controller.abort(),
    template: () => html`
      <h1 tabindex="-1">${targetId === null ? 'New campaign' : html`Add a file to ${campaign?.name ?? '…'}`}</h1>
      ${errorBox(campaignError)}
      <section class="card" aria-labelledby="file-heading">
        <h2 id="file-heading">1. Your leads</h2>
        ${dropZone()}
      </section>
      ${previewing ? loading('the file') : nothing}
      ${errorBox(previewError)}
      ${preview === null ? nothing : html`${summary(preview)} ${settings(preview)}`}
    `,
  };
}
