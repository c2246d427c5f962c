/**
 * A lead's result: the fields the results JSON and the CSV export add to a lead's original
 * columns, under the same names in both (one list, one mapping).
 *
 * To add a field: add it to `ResultRecord`, set it in `leadResult` (and `importRowResult`), and
 * give it a cell in `RESULT_COLUMNS` (the compiler asks for each of the three). Its place in
 * `RESULT_COLUMNS` is its column's place in the export.
 */
import type { LeadStatus } from '../../domain/campaigns/run.ts';
import type { ImportRowStatus } from '../../domain/leads/lead.ts';
import { unsupportedSpecificsIn } from '../../domain/personalization/specifics.ts';
import type { ImportRowView, LeadView } from '../../ports/campaign-queries.port.ts';

/** A lead's status, or for a row of the file that is not a lead, why not (`rejected`, `duplicate`). */
export type EnrichmentStatus = LeadStatus | ImportRowStatus;

export interface ResultRecord {
  /** The opening line (null until written; a draft that failed the gates stays here for review). */
  readonly personalized_message: string | null;
  readonly enrichment_status: EnrichmentStatus;
  /** Why the lead failed or needs review; for a rejected or duplicate row, the import's reason. */
  readonly error: string | null;
  /**
   * For a lead left for review, the specifics of its line (or an output) that no source supports
   * ("$50M", "Maria Chen", "last week"), as its reasons name them; empty otherwise. The export
   * joins them with "; ".
   */
  readonly unsupported_specifics: readonly string[];
  /** What the research found about the lead's company. */
  readonly research_summary: string | null;
  /** The URLs the research cites (the export joins them with a space). */
  readonly sources: readonly string[];
  /** The fact of the research the line relies on. */
  readonly message_basis: string | null;
  /** The model that wrote the line. */
  readonly model: string | null;
  /** The model that did the research. */
  readonly research_model: string | null;
  /** USD spent on the lead's provider calls, 6 decimals. */
  readonly cost_usd: number;
}

export function leadResult(lead: LeadView): ResultRecord {
  return {
    personalized_message: lead.message,
    enrichment_status: lead.status,
    error: lead.error,
    // Read from the stored reasons (the gates name each specific the same way), so no column holds them twice.
    unsupported_specifics: lead.status === 'needs_review' ? unsupportedSpecificsIn(lead.error) : [],
    research_summary: lead.research,
    sources: lead.citations.map((citation) => citation.url),
    message_basis: lead.message_basis,
    model: lead.model,
    research_model: lead.research_model,
    cost_usd: lead.cost_usd,
  };
}

/** A row of the file that is not a lead: its status and reason, nothing researched or paid. */
export function importRowResult(row: ImportRowView): ResultRecord {
  return {
    personalized_message: null,
    enrichment_status: row.status,
    error: row.reason,
    unsupported_specifics: [],
    research_summary: null,
    sources: [],
    message_basis: null,
    model: null,
    research_model: null,
    cost_usd: 0,
  };
}

const text = (value: string | null): string => value ?? '';

/** The export's added columns, in order, each with its cell. */
export const RESULT_COLUMNS: { readonly [Field in keyof ResultRecord]: (value: ResultRecord[Field]) => string } = {
  personalized_message: text,
  enrichment_status: (status) => status,
  error: text,
  unsupported_specifics: (specifics) => specifics.join('; '),
  research_summary: text,
  sources: (urls) => urls.join(' '),
  message_basis: text,
  model: text,
  research_model: text,
  cost_usd: (usd) => usd.toFixed(6),
};

export type ResultField = keyof ResultRecord;

export const RESULT_FIELDS = Object.keys(RESULT_COLUMNS) as ResultField[];

/** A record's cells, in RESULT_FIELDS order. */
export function resultCells(record: ResultRecord): string[] {
  return RESULT_FIELDS.map((field) => (RESULT_COLUMNS[field] as (value: unknown) => string)(record[field]));
}
