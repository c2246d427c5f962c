/**
 * A user's saved prompt templates (`/api/templates`): a personalization prompt, optionally a research
 * prompt and custom outputs, under a name unique to the user (case-insensitive). A submission's
 * `template_id` copies them onto its run (explicit form fields win). Every method is scoped by the
 * user: another user's template reads exactly like one that does not exist.
 */
import type { OutputSpec } from '../domain/personalization/outputs.ts';

export interface PromptTemplate {
  readonly id: string;
  readonly name: string;
  readonly personalizationPrompt: string;
  readonly researchPrompt: string | null;
  readonly outputs: readonly OutputSpec[];
  /** ISO 8601. */
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NewTemplate {
  readonly name: string;
  readonly personalizationPrompt: string;
  readonly researchPrompt?: string | null;
  readonly outputs?: readonly OutputSpec[];
}

/** The fields to change; an absent one is kept, `researchPrompt: null` clears it. */
export type TemplatePatch = Partial<NewTemplate>;

export interface TemplateStore {
  /** The user's templates by name. */
  list(userId: string): Promise<readonly PromptTemplate[]>;
  /** null when the template does not exist or is not the user's. */
  get(userId: string, templateId: string): Promise<PromptTemplate | null>;
  /** Rejects with `TemplateNameTaken` when the user has a template of that name, `TooManyTemplates` past the limit. */
  create(userId: string, template: NewTemplate): Promise<PromptTemplate>;
  /** null when the template does not exist or is not the user's; `TemplateNameTaken` for a name another of theirs has. */
  update(userId: string, templateId: string, patch: TemplatePatch): Promise<PromptTemplate | null>;
  /** false when the template does not exist or is not the user's. */
  delete(userId: string, templateId: string): Promise<boolean>;
}

/** The most templates a user may keep: a list, not a database. */
export const MAX_TEMPLATES_PER_USER = 200;

/** Another template of the user's has this name (answered 409 with its id). */
export class TemplateNameTaken extends Error {
  readonly existingId: string;

  constructor(existingId: string) {
    super('template name taken');
    this.name = 'TemplateNameTaken';
    this.existingId = existingId;
  }
}

/** The user has MAX_TEMPLATES_PER_USER templates already. */
export class TooManyTemplates extends Error {
  constructor() {
    super('too many templates');
    this.name = 'TooManyTemplates';
  }
}

/** A submission's `template_id` is not one of the user's templates (answered 404). */
export class TemplateNotFoundError extends Error {
  constructor() {
    super('template not found');
    this.name = 'TemplateNotFoundError';
  }
}
