// Signing in: through Supabase Auth with supabase-js (email and password, or a magic link) when
// the service names a Supabase project, and in local development as a "local user" (a token the
// service signs for a browser on its own machine). Either way the page holds an access token,
// kept fresh, and sends it to the API; it never holds a secret.

import { ApiError } from './api.js';

/** @typedef {import('./types').AppConfig} AppConfig */
/** @typedef {import('./types').SupabaseClient} SupabaseClient */
/** @typedef {{ kind: 'local' | 'supabase', name: string, userId: string }} SignedIn */

// Only the local user's name is kept (not a secret): its token lives in memory, and a reload asks
// for a new one (no password, so nothing is lost). A bearer token at rest in localStorage would
// outlive the tab and the hour, readable by any later page of this origin (another project's dev
// server on the same port) and by an injected script long after the page is closed.
const LOCAL_NAME_KEY = 'aga.local-user';
/** Where an earlier version kept the whole session, token included: removed on start. */
const OLD_LOCAL_SESSION_KEY = 'aga.local-session';
/** A token this close to its end is renewed before it is used. */
const RENEW_BEFORE_SEC = 120;

export class Auth {
  /** @type {SupabaseClient | null} */
  #supabase = null;
  /** @type {{ access_token: string, expires_at: number, user: { id: string, name: string } } | null} */
  #local = null;
  /** @type {SignedIn | null} */
  user = null;
  /** @type {Set<() => void>} */
  #listeners = new Set();
  /** @type {Promise<unknown> | null} */
  #renewing = null;

  /** @param {AppConfig} config */
  constructor(config) {
    this.config = config;
  }

  /** Restores a session kept by this browser. */
  async start() {
    if (this.config.auth.supabase !== null) {
      const { url, anon_key: anonKey } = this.config.auth.supabase;
      const lib = await loadSupabase();
      this.#supabase = lib.createClient(url, anonKey, { auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: true } });
      const { data } = await this.#supabase.auth.getSession();
      this.#setSupabaseUser(data.session?.user ?? null);
      this.#supabase.auth.onAuthStateChange((_event, session) => {
        this.#setSupabaseUser(session?.user ?? null);
        this.#changed();
      });
    }
    localStorage.removeItem(OLD_LOCAL_SESSION_KEY);
    const name = localStorage.getItem(LOCAL_NAME_KEY);
    if (this.user === null && this.config.auth.local && name !== null) {
      await this.signInLocal(name).catch((/** @type {unknown} */ error) => {
        // Refused now (turned off, or not this machine): forgotten. Unreachable: signed out for now.
        if (error instanceof ApiError && (error.status === 403 || error.status === 404)) localStorage.removeItem(LOCAL_NAME_KEY);
      });
    }
  }

  /** @param {() => void} listener called on sign-in and sign-out */
  onChange(listener) {
    this.#listeners.add(listener);
  }

  /** The access token to send, renewed when it is about to expire; null when signed out. */
  async token() {
    if (this.user?.kind === 'supabase' && this.#supabase !== null) {
      const { data } = await this.#supabase.auth.getSession();
      return data.session?.access_token ?? null;
    }
    if (this.#local !== null) {
      if (this.#local.expires_at - Date.now() / 1000 < RENEW_BEFORE_SEC) {
        this.#renewing ??= this.signInLocal(this.#local.user.name).finally(() => (this.#renewing = null));
        await this.#renewing.catch(() => undefined);
      }
      return this.#local?.access_token ?? null;
    }
    return null;
  }

  /** @param {string} name */
  async signInLocal(name) {
    const response = await fetch('/app/session/local', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(name.trim() === '' ? {} : { name: name.trim() }),
    }).catch(() => null);
    if (response === null) throw new ApiError(0, { detail: 'The service cannot be reached: check that it is running, then try again.' });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, body);
    this.#local = body;
    localStorage.setItem(LOCAL_NAME_KEY, body.user.name);
    const wasSignedIn = this.user !== null;
    this.user = { kind: 'local', name: body.user.name, userId: body.user.id };
    if (!wasSignedIn) this.#changed();
  }

  /**
   * @param {string} email
   * @param {string} password
   */
  async signInWithPassword(email, password) {
    const { error } = await this.#requireSupabase().auth.signInWithPassword({ email, password });
    if (error) throw new ApiError(error.status ?? 400, { detail: error.message });
  }

  /** @param {string} email */
  async sendMagicLink(email) {
    const { error } = await this.#requireSupabase().auth.signInWithOtp({ email, options: { emailRedirectTo: `${location.origin}/` } });
    if (error) throw new ApiError(error.status ?? 400, { detail: error.message });
  }

  async signOut() {
    if (this.user?.kind === 'supabase') await this.#supabase?.auth.signOut();
    this.#local = null;
    localStorage.removeItem(LOCAL_NAME_KEY);
    this.user = null;
    this.#changed();
  }

  #requireSupabase() {
    if (this.#supabase === null) throw new ApiError(0, { detail: 'Supabase Auth is not configured on this service.' });
    return this.#supabase;
  }

  /** @param {{ id: string, email?: string } | null} user */
  #setSupabaseUser(user) {
    if (user !== null) this.user = { kind: 'supabase', name: user.email ?? user.id, userId: user.id };
    else if (this.user?.kind === 'supabase') this.user = null;
  }

  #changed() {
    for (const listener of this.#listeners) listener();
  }
}

/** supabase-js's browser bundle: the page loads it (a classic script) when the service names a Supabase project. */
async function loadSupabase() {
  if (window.supabase === undefined) throw new Error('supabase-js did not load: reload the page.');
  return window.supabase;
}
