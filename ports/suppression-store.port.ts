/**
 * A user's suppression list (domain/suppression/): the edge's reads and writes of it, and the
 * pipeline's look-ups before a lead is stored or researched. Every method is scoped by the owner:
 * one user's list never suppresses another user's leads.
 */
import type { EarlierPersonalization, SuppressionEntry, SuppressionKind } from '../domain/suppression/suppression.ts';

/** An entry as its owner reads it. */
export interface SuppressionView {
  readonly id: string;
  readonly value: string;
  readonly kind: SuppressionKind;
  /** ISO 8601. */
  readonly created_at: string;
}

export interface SuppressionPage {
  readonly suppressions: readonly SuppressionView[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  readonly next_cursor: string | null;
}

/** A cursor this listing did not hand out. */
export class InvalidSuppressionCursorError extends Error {
  constructor() {
    super('invalid suppression list cursor');
    this.name = 'InvalidSuppressionCursorError';
  }
}

export interface SuppressionList {
  /** The user's entries in value order; `q` keeps those containing it (case-insensitive). */
  list(userId: string, page: { readonly q?: string; readonly cursor?: string; readonly limit: number }): Promise<SuppressionPage>;
  /** Adds the entries the user does not have yet (each value once); returns those it added. */
  add(userId: string, entries: readonly SuppressionEntry[]): Promise<readonly SuppressionView[]>;
  /** Removes one entry by id; false when the user has none with that id. */
  remove(userId: string, id: string): Promise<boolean>;
  /** Removes the entry with this (normalized) value; null when the user has none. */
  removeValue(userId: string, value: string): Promise<SuppressionView | null>;
}

/** What the owner's list and history say about one lead of a file. */
export interface LeadScreening {
  /** The lead's keys (domain/suppression suppressionKeys) found on the owner's list. */
  readonly listed: readonly string[];
  /** The latest personalization of the lead's email in another of the owner's campaigns within the window; null when none. */
  readonly personalizedElsewhere: EarlierPersonalization | null;
}

export interface LeadToScreen {
  readonly email: string;
  readonly keys: readonly string[];
}

export interface LeadScreen {
  /**
   * Looks up a batch of a run's leads: on the owner's list, and (with `withinDays`) personalized in
   * another campaign of the owner within that many days. Only leads with something found are in
   * the answer, by email.
   */
  screen(
    // campaignId null: a file not in a campaign (the preview), which asks for no window.
    run: { readonly userId: string; readonly campaignId: string | null },
    leads: readonly LeadToScreen[],
    withinDays: number | null,
  ): Promise<ReadonlyMap<string, LeadScreening>>;
  /** The keys of one lead of the run found on the run owner's list (checked again before its research). */
  listedFor(runId: string, keys: readonly string[]): Promise<readonly string[]>;
}
