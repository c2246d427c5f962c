// Sign in: with a Supabase account (password or a link by email) where the service has a
// Supabase project, and as a local user in local development (clearly marked as such).

import { html, nothing } from 'lit-html';
import { errorBox } from '../ui.js';

/** @typedef {import('../ui.js').App} App */

/**
 * @param {App} app
 * @returns {import('../types').View}
 */
export function signInView(app) {
  const { supabase, local } = app.config.auth;
  /** @type {unknown} */
  let error = null;
  let busy = false;
  let linkSentTo = '';

  /**
   * @param {SubmitEvent} event
   * @param {(form: FormData) => Promise<void>} action
   */
  const submit = async (event, action) => {
    event.preventDefault();
    busy = true;
    error = null;
    app.redraw();
    try {
      await action(new FormData(/** @type {HTMLFormElement} */ (event.currentTarget)));
    } catch (failure) {
      error = failure;
    } finally {
      busy = false;
      app.redraw();
    }
  };

  const passwordForm = () => html`<form class="card stack" @submit=${(/** @type {SubmitEvent} */ event) =>
      submit(event, (form) => app.auth.signInWithPassword(String(form.get('email')), String(form.get('password'))))}>
      <h2>Sign in with your account</h2>
      <div class="field">
        <label for="signin-email">Email</label>
        <input id="signin-email" name="email" type="email" autocomplete="email" required />
      </div>
      <div class="field">
        <label for="signin-password">Password</label>
        <input id="signin-password" name="password" type="password" autocomplete="current-password" required />
      </div>
      <div class="actions">
        <button type="submit" class="primary" ?disabled=${busy}>Sign in</button>
      </div>
    </form>
    <form class="card stack" @submit=${(/** @type {SubmitEvent} */ event) =>
      submit(event, async (form) => {
        const email = String(form.get('email'));
        await app.auth.sendMagicLink(email);
        linkSentTo = email;
      })}>
      <h2>Or get a sign-in link by email</h2>
      <div class="field">
        <label for="magic-email">Email</label>
        <input id="magic-email" name="email" type="email" autocomplete="email" required />
      </div>
      <div class="actions">
        <button type="submit" ?disabled=${busy}>Email me a link</button>
      </div>
      ${linkSentTo === '' ? nothing : html`<p role="status">A sign-in link is on its way to <strong>${linkSentTo}</strong>. Open it in this browser.</p>`}
    </form>`;

  const localForm = () => html`<form class="card stack local-sign-in" aria-labelledby="local-heading" @submit=${(/** @type {SubmitEvent} */ event) =>
      submit(event, (form) => app.auth.signInLocal(String(form.get('name') ?? '')))}>
      <h2 id="local-heading"><span class="badge local">Local development</span> Sign in as a local user</h2>
      <p class="muted">
        No password: this service runs with <code>LOCAL_SIGN_IN=true</code> (<code>npm run dev</code>), which signs in anyone
        using a browser on this machine. Each name is a user of its own; <code>local</code> is the user of <code>npm run token</code>.
      </p>
      <div class="field">
        <label for="local-name">Local user name</label>
        <input id="local-name" name="name" type="text" value="local" autocomplete="username" maxlength="64" required />
      </div>
      <div class="actions">
        <button type="submit" class="primary" ?disabled=${busy}>Sign in as a local user</button>
      </div>
    </form>`;

  return {
    title: 'Sign in',
    template: () => html`
      <section class="sign-in">
        <h1 tabindex="-1">Sign in</h1>
        <p class="lead">Upload a CSV of leads, watch each one researched and given a personalized opening line, then export them for your sequencer.</p>
        ${errorBox(error)}
        ${supabase !== null ? passwordForm() : nothing}
        ${local ? localForm() : nothing}
        ${supabase === null && !local
          ? html`<div class="error" role="alert">
              <p>No way to sign in is configured: set <code>SUPABASE_URL</code> and <code>SUPABASE_ANON_KEY</code> (Supabase Auth), or run locally with <code>npm run dev</code>.</p>
            </div>`
          : nothing}
      </section>
    `,
  };
}
