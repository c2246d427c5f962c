// Small pieces shared by the views. Every value from the data goes through lit-html bindings,
// which set text and attributes, never markup.

import { html, nothing } from 'lit-html';
import { ApiError, errorMessage } from './api.js';
import { leadStatusLabel, runStatusLabel } from './format.js';

/** @typedef {import('./types').View} View */

/**
 * What every view gets from the shell.
 * @typedef {{
 *   config: import('./types').AppConfig,
 *   auth: import('./auth.js').Auth,
 *   redraw(): void,
 *   navigate(hash: string, options?: { replace?: boolean }): void,
 *   announce(message: string): void,
 * }} App
 */

/** An error as the API worded it, announced to screen readers. */
export function errorBox(/** @type {unknown} */ error) {
  if (error === null || error === undefined) return nothing;
  const requestId = error instanceof ApiError ? error.problem.request_id : undefined;
  return html`<div class="error" role="alert" tabindex="-1">
    <p>${errorMessage(error)}</p>
    ${requestId ? html`<p class="muted small">Request id: <code>${requestId}</code></p>` : nothing}
  </div>`;
}

/** @param {string} status */
export function leadBadge(status) {
  return html`<span class="badge status-${status}">${leadStatusLabel(status)}</span>`;
}

/** @param {string} status */
export function runBadge(status) {
  return html`<span class="badge run-${status}">${runStatusLabel(status)}</span>`;
}

export const sandboxBadge = html`<span class="badge sandbox" title="Made on the sandbox provider: made-up research and lines, $0, not in your KPIs">Sandbox</span>`;

/** Copies text to the clipboard; false when the browser refused. */
export async function copyText(/** @type {string} */ text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** A loading line, announced politely. */
export const loading = (/** @type {string} */ what) => html`<p class="loading" role="status">Loading ${what}…</p>`;

/**
 * Calls `fn` `wait` ms after the last call (typing in a search box).
 * @template {unknown[]} A
 * @param {(...args: A) => void} fn
 * @param {number} wait
 */
export function debounce(fn, wait) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return (/** @type {A} */ ...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}
