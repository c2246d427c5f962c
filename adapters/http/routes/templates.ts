/**
 * Saved prompt templates, per user: `GET/POST /templates`, `GET/PATCH/DELETE /templates/:id`.
 * A template holds a personalization prompt (its `{{variables}}` are checked against a file only
 * when a submission uses it), optionally a research prompt and custom outputs; a submission's
 * `template_id` copies them onto its run, each unless the form gives its own.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import * as v from 'valibot';
import { templateVariables } from '../../../domain/personalization/template.ts';
import {
  MAX_TEMPLATES_PER_USER,
  TemplateNameTaken,
  TooManyTemplates,
  type PromptTemplate,
  type TemplateStore,
} from '../../../ports/template-store.port.ts';
import type { AppEnv } from '../context.ts';
import { ProblemError } from '../problem.ts';
import { parseInput, pathId } from './input.ts';
import { OutputsSchema, outputBody, PersonalizationPrompt, ResearchPrompt } from './prompt-input.ts';

const TEMPLATE_NOT_FOUND = 'No template with this id.';
/** A template is a few prompts: 4000 characters each, five outputs. */
const MAX_BODY_BYTES = 64 * 1024;

const TemplateName = v.pipe(
  v.string('name must be text'),
  v.trim(),
  v.minLength(1, 'name must not be blank'),
  v.maxLength(200, 'name must be at most 200 characters'),
);

const FIELDS_MESSAGE = 'a template has only name, personalization_prompt, research_prompt and outputs';

/** `POST /api/templates`'s body. */
export const CreateTemplateBody = v.strictObject(
  {
    name: TemplateName,
    personalization_prompt: PersonalizationPrompt,
    research_prompt: v.optional(ResearchPrompt),
    outputs: v.optional(OutputsSchema),
  },
  FIELDS_MESSAGE,
);

/** `PATCH /api/templates/:id`'s body: the fields to change (at least one); `research_prompt: null` clears it, `outputs: []` removes them. */
export const UpdateTemplateBody = v.pipe(
  v.strictObject(
    {
      name: v.optional(TemplateName),
      personalization_prompt: v.optional(PersonalizationPrompt),
      research_prompt: v.optional(ResearchPrompt),
      outputs: v.optional(OutputsSchema),
    },
    FIELDS_MESSAGE,
  ),
  v.check((body) => Object.values(body).some((value) => value !== undefined), 'send at least one of name, personalization_prompt, research_prompt, outputs'),
);

export interface TemplateRoutesDeps {
  readonly templates: TemplateStore;
}

export function templateRoutes({ templates }: TemplateRoutesDeps) {
  const routes = new Hono<AppEnv>();
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ProblemError(413, `A template's body may be at most ${MAX_BODY_BYTES / 1024} KB.`);
    },
  });

  routes.get('/', async (c) => {
    const list = await templates.list(c.get('userId'));
    return c.json({ templates: list.map(templateBody) });
  });

  routes.post('/', limit, async (c) => {
    const body = parseInput(CreateTemplateBody, await jsonBody(c.req.raw));
    const created = await templates
      .create(c.get('userId'), {
        name: body.name,
        personalizationPrompt: body.personalization_prompt,
        ...(body.research_prompt === undefined ? {} : { researchPrompt: body.research_prompt }),
        ...(body.outputs === undefined ? {} : { outputs: body.outputs }),
      })
      .catch(nameProblem);
    c.header('Location', `/api/templates/${created.id}`);
    return c.json(templateBody(created), 201);
  });

  routes.get('/:id', async (c) => {
    const id = pathId(c.req.param('id'), TEMPLATE_NOT_FOUND);
    const template = await templates.get(c.get('userId'), id);
    if (template === null) throw new ProblemError(404, TEMPLATE_NOT_FOUND);
    return c.json(templateBody(template));
  });

  routes.patch('/:id', limit, async (c) => {
    const id = pathId(c.req.param('id'), TEMPLATE_NOT_FOUND);
    const body = parseInput(UpdateTemplateBody, await jsonBody(c.req.raw));
    const updated = await templates
      .update(c.get('userId'), id, {
        ...(body.name === undefined ? {} : { name: body.name }),
        ...(body.personalization_prompt === undefined ? {} : { personalizationPrompt: body.personalization_prompt }),
        ...(body.research_prompt === undefined ? {} : { researchPrompt: body.research_prompt }),
        ...(body.outputs === undefined ? {} : { outputs: body.outputs }),
      })
      .catch(nameProblem);
    if (updated === null) throw new ProblemError(404, TEMPLATE_NOT_FOUND);
    return c.json(templateBody(updated));
  });

  routes.delete('/:id', async (c) => {
    const id = pathId(c.req.param('id'), TEMPLATE_NOT_FOUND);
    if (!(await templates.delete(c.get('userId'), id))) throw new ProblemError(404, TEMPLATE_NOT_FOUND);
    return c.body(null, 204);
  });

  return routes;
}

/** The request's JSON body; a 400 when it is not JSON. */
async function jsonBody(request: Request): Promise<unknown> {
  try {
    return await request.json();
  } catch {
    throw new ProblemError(400, 'The body must be a JSON object, e.g. {"name": "Intro", "personalization_prompt": "Open with {{first_name | \\"there\\"}}."}.');
  }
}

function nameProblem(error: unknown): never {
  if (error instanceof TemplateNameTaken) {
    throw new ProblemError(409, 'You have a template of this name already (names are unique, whatever their case): choose another name, or change that one.', {}, {
      members: { existing_id: error.existingId },
    });
  }
  if (error instanceof TooManyTemplates) {
    throw new ProblemError(409, `You have ${MAX_TEMPLATES_PER_USER} templates, the most one may keep: delete one you no longer use first.`);
  }
  throw error;
}

/** A template as the API writes it, with the variables its prompt and outputs use (names, in order). */
export function templateBody(template: PromptTemplate) {
  return {
    id: template.id,
    name: template.name,
    personalization_prompt: template.personalizationPrompt,
    research_prompt: template.researchPrompt,
    outputs: template.outputs.map(outputBody),
    variables: templateVariables(template.personalizationPrompt, ...template.outputs.map((output) => output.instruction)).map((variable) => variable.name),
    created_at: template.createdAt,
    updated_at: template.updatedAt,
  };
}
