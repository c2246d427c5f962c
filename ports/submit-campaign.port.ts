/** Inbound port: submit a lead file for processing (the HTTP edge's `POST /api/campaigns/process`). */
import type { OutputSpec } from '../domain/personalization/outputs.ts';

export interface SubmitCampaign {
  /**
   * Validates the file like the preview (a whole-file problem rejects with `ImportError`) while
   * storing it (claim check), in one pass over the upload; then, once the details are known and
   * valid, records the campaign and a `queued` run, and publishes CampaignSubmitted. A rejection of
   * `details` wins over a problem of the file, and nothing is recorded or kept for either.
   * Rejects with `CampaignNotFoundError` when `campaignId` is not one of the user's campaigns, and
   * with `InvalidCampaignOption` for an option that cannot be accepted, and with
   * `QuotaExceededError` (domain/quotas) when the run would pass one of the user's quotas,
   * `TemplateNotFoundError` (template-store.port.ts) for a `templateId` that is not the user's, and
   * `TemplateVariablesError` when the personalization prompt or an output's instruction uses a
   * variable the file cannot fill (checked against the file's header, before anything is recorded).
   *
   * With an idempotency key: the first submission with the key creates the run; a later one with
   * the same key and fingerprint reads its upload to the end, starts nothing and resolves with the
   * same run (`replayed`); with another fingerprint it rejects with `IdempotencyKeyReused`; while
   * the first is still in progress, with `IdempotencyKeyInUse`. A submission that fails does not
   * keep its key.
   */
  submit(input: SubmitCampaignInput): Promise<SubmittedRun>;
}

export interface SubmitCampaignInput {
  readonly userId: string;
  /** The uploaded file, read once, as it arrives. */
  readonly file: AsyncIterable<Uint8Array>;
  readonly fileName: string;
  /**
   * The rest of the submission. A form may send its fields after the file, so they can settle
   * only once the file has been read; a rejection (an invalid field) is the submission's answer.
   */
  readonly details: Promise<SubmissionDetails>;
  /**
   * The client's idempotency key (per user), and the request's fingerprint, known once the whole
   * upload has been read (the edge computes it while the bytes stream through).
   */
  readonly idempotency?: { readonly key: string; readonly fingerprint: Promise<string> };
}

export interface SubmissionDetails {
  readonly campaignName?: string;
  readonly campaignId?: string;
  readonly demo: boolean;
  readonly researchPrompt?: string;
  /** A template (domain/personalization/template.ts): may use the lead's values as `{{variables}}`. */
  readonly personalizationPrompt?: string;
  /** Custom outputs to write with each line (checked already: names, count, limits). */
  readonly outputs?: readonly OutputSpec[];
  /**
   * One of the user's saved templates: supplies the research and personalization prompts and the
   * outputs, each unless the submission gives its own.
   */
  readonly templateId?: string;
  /** Opening lines may be questions (refused by the quality gates otherwise). */
  readonly allowQuestions?: boolean;
  /** Campaign options consumers declared (e.g. `webhook_url`), as submitted; checked before anything is recorded. */
  readonly options?: Readonly<Record<string, string>>;
}

export interface SubmittedRun {
  readonly runId: string;
  readonly campaignId: string;
  /** The run of an earlier submission with the same idempotency key: nothing new was started. */
  readonly replayed?: boolean;
}

/** The idempotency key is held by a submission still in progress (answered 409). */
export class IdempotencyKeyInUse extends Error {
  constructor() {
    super('idempotency key in use');
    this.name = 'IdempotencyKeyInUse';
  }
}

/** The idempotency key was used for a different submission (answered 422). */
export class IdempotencyKeyReused extends Error {
  constructor() {
    super('idempotency key reused for another request');
    this.name = 'IdempotencyKeyReused';
  }
}

/** A campaign option's value that cannot be accepted (answered 400); its message is shown to the user. */
export class InvalidCampaignOption extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCampaignOption';
  }
}

/**
 * The prompt or an output's instruction uses variables the run cannot fill (answered 400): names
 * that are neither a column of the file nor a canonical lead field, or that name the lead's email
 * or phone, which never reach a provider. The message is for the user and names them.
 */
export class TemplateVariablesError extends Error {
  readonly unknown: readonly string[];
  readonly private: readonly string[];

  constructor(message: string, unknown: readonly string[], privateNames: readonly string[]) {
    super(message);
    this.name = 'TemplateVariablesError';
    this.unknown = unknown;
    this.private = privateNames;
  }
}
