// The web app's shell: signs in, routes by the URL's hash, and draws the page around the view.

import { html, nothing, render } from 'lit-html';
import { useToken } from './api.js';
import { Auth } from './auth.js';
import { campaignView } from './views/campaign.js';
import { campaignsView } from './views/campaigns.js';
import { newCampaignView } from './views/new-campaign.js';
import { runView } from './views/run.js';
import { signInView } from './views/sign-in.js';
import { errorBox } from './ui.js';

/** @typedef {import('./types').View} View */
/** @typedef {import('./ui.js').App} App */

const root = /** @type {HTMLElement} */ (document.getElementById('app'));
// lit-html renders after what a container holds: the page's "Loading…" goes first.
root.replaceChildren();

/** @type {import('./types').AppConfig} */
let config;
try {
  const response = await fetch('/app/config.json');
  if (!response.ok) throw new Error(`The app's settings could not be read (HTTP ${response.status}).`);
  config = await response.json();
} catch (error) {
  render(html`<main id="main">${errorBox(error)}</main>`, root);
  throw error;
}

const auth = new Auth(config);
/** @type {unknown} */
let startError = null;
await auth.start().catch((error) => (startError = error));

/** @type {View | null} */
let view = null;
let toast = '';
/** @type {ReturnType<typeof setTimeout> | undefined} */
let toastTimer;
let focusPending = false;

/** @type {App} */
const app = {
  config,
  auth,
  redraw: draw,
  navigate(hash, options = {}) {
    if (location.hash === hash) route();
    else if (options.replace === true) location.replace(hash);
    else location.hash = hash;
  },
  announce(message) {
    toast = message;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      toast = '';
      draw();
    }, 5000);
    draw();
  },
};

useToken(
  () => auth.token(),
  () => {
    if (auth.user !== null) {
      void auth.signOut();
      app.announce('Your session has ended: sign in again.');
    }
  },
);
auth.onChange(route);
window.addEventListener('hashchange', route);
// The page's "Skip to content" link points at #main, which the router would take for an address
// ("Page not found"): it moves the focus to the content instead.
document.querySelector('.skip-link')?.addEventListener('click', (event) => {
  event.preventDefault();
  /** @type {HTMLElement | null} */ (document.getElementById('main'))?.focus();
});

/** The view for the current URL (`#/campaigns/<id>`, ...). */
function route() {
  view?.dispose?.();
  const path = location.hash.replace(/^#/, '') || '/';
  const parts = path.split('/').filter((part) => part !== '').map(decodeURIComponent);
  if (auth.user === null) view = signInView(app);
  else if (parts.length === 0) view = campaignsView(app);
  else if (parts[0] === 'new' && parts.length === 1) view = newCampaignView(app, null);
  else if (parts[0] === 'campaigns' && parts[1] !== undefined && parts.length === 2) view = campaignView(app, parts[1]);
  else if (parts[0] === 'campaigns' && parts[1] !== undefined && parts[2] === 'upload' && parts.length === 3) view = newCampaignView(app, parts[1]);
  else if (parts[0] === 'campaigns' && parts[1] !== undefined && parts[2] === 'runs' && parts[3] !== undefined && parts.length === 4) {
    view = runView(app, parts[1], parts[3]);
  } else view = notFoundView();
  focusPending = true;
  draw();
}

function draw() {
  if (view === null) return;
  document.title = `${view.title} · AI Growth Accelerator`;
  render(shell(view), root);
  if (focusPending) {
    focusPending = false;
    // A new page: focus its heading, so a screen reader starts there and Tab goes on from it.
    const heading = /** @type {HTMLElement | null} */ (root.querySelector('main h1'));
    (heading ?? /** @type {HTMLElement | null} */ (root.querySelector('main')))?.focus({ preventScroll: false });
  }
}

/** @param {View} current */
function shell(current) {
  const path = location.hash.replace(/^#/, '') || '/';
  const user = auth.user;
  return html`
    <header class="top">
      <div class="top-inner">
        <a class="brand" href="#/">AI Growth Accelerator</a>
        ${config.sandbox
          ? html`<span class="badge sandbox" title="The providers are the in-process sandbox: research and lines are made up, cost $0 and never count in your KPIs">Sandbox: made-up output, $0</span>`
          : nothing}
        ${user === null
          ? nothing
          : html`<nav aria-label="Main">
                <a href="#/" aria-current=${path === '/' ? 'page' : 'false'}>Campaigns</a>
                <a href="#/new" aria-current=${path === '/new' ? 'page' : 'false'}>New campaign</a>
              </nav>
              <div class="user">
                <span class="muted small">Signed in as</span>
                <strong class="user-name">${user.name}</strong>
                ${user.kind === 'local' ? html`<span class="badge local">local user</span>` : nothing}
                <button type="button" class="link-button" @click=${() => void auth.signOut()}>Sign out</button>
              </div>`}
      </div>
    </header>
    <main id="main" tabindex="-1">${startError === null ? nothing : errorBox(startError)}${current.template()}</main>
    <div class="toast" role="status" aria-live="polite">${toast === '' ? nothing : html`<p>${toast}</p>`}</div>
  `;
}

/** @returns {View} */
function notFoundView() {
  return {
    title: 'Not found',
    template: () => html`<h1 tabindex="-1">Page not found</h1>
      <p>There is nothing at this address. <a href="#/">Go to your campaigns</a>.</p>`,
  };
}

route();
