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
import { describeApiRoute, jsonBody as jsonRequestBody, jsonResponse, pathParam, problems, responseHeader, type FieldSchemas } from '../openapi.ts';
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

const Timestamp = v.pipe(v.string(), v.isoTimestamp());

/** A template as the API writes it (see templateBody). */
export const TemplateBody = v.object({
  id: v.pipe(v.string(), v.uuid()),
  name: v.string(),
  personalization_prompt: v.string(),
  research_prompt: v.nullable(v.string()),
  outputs: v.pipe(
    v.array(v.object({ name: v.string(), instruction: v.string(), max_words: v.pipe(v.number(), v.integer(), v.minValue(1)) })),
    v.description('The custom outputs a run using the template writes with each line.'),
  ),
  variables: v.pipe(v.array(v.string()), v.description('The {{variables}} its personalization prompt and outputs use, by name, in order; a submission checks them against its file.')),
  created_at: Timestamp,
  updated_at: Timestamp,
} satisfies FieldSchemas<ReturnType<typeof templateBody>>);

export const TemplateList = v.object({ templates: v.pipe(v.array(TemplateBody), v.description('Your templates, by name.')) });

const TEMPLATE_ID = pathParam('id', 'The template id.');
const TEMPLATE_FIELDS = {
  name: 'Unique among your templates, ignoring case (at most 200 characters).',
  personalization_prompt:
    'How to write each opening line (at most 4,000 characters), with `{{Column Name}}` or `{{first_name | "there"}}` variables filled from each lead\'s row; the email and phone are not variables.',
  research_prompt: "How to research each lead's company (at most 4,000 characters); null or blank: none.",
  outputs: 'Custom outputs: a list of `{ "name", "instruction", "max_words" }` (names snake_case, unique); `[]`: none.',
};
const BODY_PROBLEMS = {
  400: 'Not valid JSON, a bad field (the detail names it), or a field that is not one of these.',
  409: 'You have a template of this name already (`existing_id`), or the most templates one may keep.',
  413: 'A body over 64 KB.',
} as const;

const listDoc = describeApiRoute({
  operationId: 'listTemplates',
  tags: ['Templates'],
  summary: 'Your prompt templates',
  responses: { 200: jsonResponse('Your templates, by name.', TemplateList) },
});

const createDoc = describeApiRoute({
  operationId: 'createTemplate',
  tags: ['Templates'],
  summary: 'Save a prompt template',
  description: 'A submission uses it with `template_id`: its prompts and outputs, each unless the form gives its own. Its variables are checked against a file only then.',
  requestBody: jsonRequestBody(CreateTemplateBody, { fields: TEMPLATE_FIELDS }),
  responses: {
    201: jsonResponse('The template, saved.', TemplateBody, { Location: responseHeader("The template's URL.") }),
    ...problems(BODY_PROBLEMS),
  },
});

const getDoc = describeApiRoute({
  operationId: 'getTemplate',
  tags: ['Templates'],
  summary: 'A prompt template',
  parameters: [TEMPLATE_ID],
  responses: { 200: jsonResponse('The template.', TemplateBody), ...problems({ 404: 'No template with this id (or not yours).' }) },
});

const updateDoc = describeApiRoute({
  operationId: 'updateTemplate',
  tags: ['Templates'],
  summary: 'Change a prompt template',
  description: 'Changes the fields sent (at least one); `research_prompt: null` clears it, `outputs: []` removes them. Runs already made keep what they were made with.',
  parameters: [TEMPLATE_ID],
  requestBody: jsonRequestBody(UpdateTemplateBody, { fields: TEMPLATE_FIELDS }),
  responses: {
    200: jsonResponse('The template, changed.', TemplateBody),
    ...problems({ ...BODY_PROBLEMS, 404: 'No template with this id (or not yours).' }),
  },
});

const deleteDoc = describeApiRoute({
  operationId: 'deleteTemplate',
  tags: ['Templates'],
  summary: 'Delete a prompt template',
  parameters: [TEMPLATE_ID],
  responses: { 204: { description: 'Deleted.' }, ...problems({ 404: 'No template with this id (or not yours).' }) },
});

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

  routes.get('/', listDoc, async (c) => {
    const list = await templates.list(c.get('userId'));
    return c.json({ templates: list.map(templateBody) });
  });

  routes.post('/', createDoc, limit, async (c) => {
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

  routes.get('/:id', getDoc, async (c) => {
    const id = pathId(c.req.param('id'), TEMPLATE_NOT_FOUND);
    const template = await templates.get(c.get('userId'), id);
    if (template === null) throw new ProblemError(404, TEMPLATE_NOT_FOUND);
    return c.json(templateBody(template));
  });

  routes.patch('/:id', updateDoc, limit, async (c) => {
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

  routes.delete('/:id', deleteDoc, async (c) => {
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
