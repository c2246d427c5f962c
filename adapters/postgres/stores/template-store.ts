/**
 * The users' saved prompt templates (ports/template-store.port.ts), in `prompt_templates`
 * (migration 0017). Every statement is scoped by the caller's user id; a name is unique per user
 * whatever its case (a unique index on `(user_id, lower(name))`), which PostgreSQL enforces under
 * concurrent writes: a conflict is read back as the existing template's id.
 */
import {
  MAX_TEMPLATES_PER_USER,
  TemplateNameTaken,
  TooManyTemplates,
  type NewTemplate,
  type PromptTemplate,
  type TemplatePatch,
  type TemplateStore,
} from '../../../ports/template-store.port.ts';
import type { Sql } from '../client.ts';
import { errorCode, fromStoredOutputs, isUuid, toJson, toStoredOutputs, UNIQUE_VIOLATION, type StoredOutputSpec } from '../sql.ts';
import { traced } from '../traced.ts';

interface TemplateRow {
  id: string;
  name: string;
  personalization_prompt: string;
  research_prompt: string | null;
  outputs: StoredOutputSpec[];
  created_at: Date;
  updated_at: Date;
}

/** The class id of the per-user lock that serialises template creation (the count against the limit). */
const TEMPLATE_LOCK_CLASS = 0x41474105; // "AGA" 5

export class PostgresTemplateStore implements TemplateStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  list(userId: string): Promise<readonly PromptTemplate[]> {
    return traced('listTemplates', {}, async () => {
      if (!isUuid(userId)) return [];
      const rows = await this.#sql<TemplateRow[]>`
        select id, name, personalization_prompt, research_prompt, outputs, created_at, updated_at
        from prompt_templates where user_id = ${userId}
        order by lower(name), id`;
      return rows.map(toTemplate);
    });
  }

  get(userId: string, templateId: string): Promise<PromptTemplate | null> {
    return traced('getTemplate', isUuid(templateId) ? { template_id: templateId } : {}, async () => {
      if (!isUuid(userId) || !isUuid(templateId)) return null;
      const [row] = await this.#sql<TemplateRow[]>`
        select id, name, personalization_prompt, research_prompt, outputs, created_at, updated_at
        from prompt_templates where id = ${templateId} and user_id = ${userId}`;
      return row === undefined ? null : toTemplate(row);
    });
  }

  create(userId: string, template: NewTemplate): Promise<PromptTemplate> {
    return traced('createTemplate', {}, () =>
      this.#nameChecked(userId, template.name, null, () =>
        this.#sql.begin(async (tx) => {
          // One creation at a time per user, so that concurrent ones cannot pass the limit together.
          await tx`select pg_advisory_xact_lock(${TEMPLATE_LOCK_CLASS}, hashtext(${userId}))`;
          const [count] = await tx<{ count: number }[]>`select count(*)::int as count from prompt_templates where user_id = ${userId}`;
          if ((count?.count ?? 0) >= MAX_TEMPLATES_PER_USER) throw new TooManyTemplates();
          const [row] = await tx<TemplateRow[]>`
            insert into prompt_templates (user_id, name, personalization_prompt, research_prompt, outputs)
            values (${userId}, ${template.name}, ${template.personalizationPrompt}, ${template.researchPrompt ?? null},
                    ${tx.json(toJson(toStoredOutputs(template.outputs ?? [])))})
            returning id, name, personalization_prompt, research_prompt, outputs, created_at, updated_at`;
          return toTemplate(row!);
        }),
      ),
    );
  }

  update(userId: string, templateId: string, patch: TemplatePatch): Promise<PromptTemplate | null> {
    return traced('updateTemplate', isUuid(templateId) ? { template_id: templateId } : {}, async () => {
      if (!isUuid(userId) || !isUuid(templateId)) return null;
      const sql = this.#sql;
      return this.#nameChecked(userId, patch.name, templateId, async () => {
        const [row] = await sql<TemplateRow[]>`
          update prompt_templates set
            updated_at = now()
            ${patch.name === undefined ? sql`` : sql`, name = ${patch.name}`}
            ${patch.personalizationPrompt === undefined ? sql`` : sql`, personalization_prompt = ${patch.personalizationPrompt}`}
            ${patch.researchPrompt === undefined ? sql`` : sql`, research_prompt = ${patch.researchPrompt}`}
            ${patch.outputs === undefined ? sql`` : sql`, outputs = ${sql.json(toJson(toStoredOutputs(patch.outputs)))}`}
          where id = ${templateId} and user_id = ${userId}
          returning id, name, personalization_prompt, research_prompt, outputs, created_at, updated_at`;
        return row === undefined ? null : toTemplate(row);
      });
    });
  }

  delete(userId: string, templateId: string): Promise<boolean> {
    return traced('deleteTemplate', isUuid(templateId) ? { template_id: templateId } : {}, async () => {
      if (!isUuid(userId) || !isUuid(templateId)) return false;
      const { count } = await this.#sql`delete from prompt_templates where id = ${templateId} and user_id = ${userId}`;
      return count > 0;
    });
  }

  /** Runs a write that may take `name`; a unique violation becomes `TemplateNameTaken` with the holder's id. */
  async #nameChecked<T>(userId: string, name: string | undefined, self: string | null, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (name === undefined || errorCode(error) !== UNIQUE_VIOLATION) throw error;
      const [holder] = await this.#sql<{ id: string }[]>`
        select id from prompt_templates where user_id = ${userId} and lower(name) = lower(${name})
          ${self === null ? this.#sql`` : this.#sql`and id <> ${self}`}`;
      // Renamed or deleted since: the conflict is gone; the caller may try again.
      if (holder === undefined) throw error;
      throw new TemplateNameTaken(holder.id);
    }
  }
}

function toTemplate(row: TemplateRow): PromptTemplate {
  return {
    id: row.id,
    name: row.name,
    personalizationPrompt: row.personalization_prompt,
    researchPrompt: row.research_prompt,
    outputs: fromStoredOutputs(row.outputs),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
