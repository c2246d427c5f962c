/**
 * Prompt templates: parsing `{{variables}}` with fallbacks, resolving names against a file's
 * columns and the canonical fields, checking them, and rendering a lead's prompt.
 */
import { describe, expect, it } from 'vitest';
import {
  checkTemplates,
  parseTemplate,
  quoteLeadValue,
  renderTemplate,
  resolveVariable,
  templateProblemMessage,
  templateVariables,
  variableValues,
  type TemplateLead,
} from '../../../domain/personalization/template.ts';

const HEADERS = ['Email', 'First Name', 'Company Name', 'Recent Post', 'Mobile', 'Work Email', 'Notes '];

const LEAD: TemplateLead = {
  fields: [
    { header: 'Email', value: 'ada@example.com' },
    { header: 'First Name', value: '  Ada ' },
    { header: 'Company Name', value: 'Analytical Engines' },
    { header: 'Recent Post', value: '' },
    { header: 'Mobile', value: '+44 20 7946 0000' },
    { header: 'Work Email', value: 'ada@work.example' },
    { header: 'Notes ', value: 'Met at « the » fair\nlast year' },
  ],
  canonical: { email: 'ada@example.com', first_name: 'Ada', company: 'Analytical Engines', phone: '+44 20 7946 0000' },
};

describe('parseTemplate', () => {
  it('splits text and variables, tolerating whitespace inside the braces', () => {
    expect(parseTemplate('Hi {{ first_name }}, about {{Company Name}}.')).toEqual([
      'Hi ',
      { name: 'first_name' },
      ', about ',
      { name: 'Company Name' },
      '.',
    ]);
  });

  it('reads fallbacks in double quotes, single quotes or bare', () => {
    expect(templateVariables('{{first_name | "there"}} {{city|\'your city\'}} {{title |  friend  }} {{x | ""}}')).toEqual([
      { name: 'first_name', fallback: 'there' },
      { name: 'city', fallback: 'your city' },
      { name: 'title', fallback: 'friend' },
      { name: 'x', fallback: '' },
    ]);
  });

  it('keeps an unclosed {{ and single braces as text', () => {
    expect(parseTemplate('Use {{first_name and {company}')).toEqual(['Use {{first_name and {company}']);
  });

  it('lists each name once, in order of first use, across templates', () => {
    expect(templateVariables('{{a}} {{b}} {{a | "x"}}', '{{c}} {{b}}').map((variable) => variable.name)).toEqual(['a', 'b', 'c']);
  });
});

describe('resolveVariable', () => {
  it('finds a column by its header as written, trimmed', () => {
    expect(resolveVariable('Company Name', HEADERS)).toEqual({ column: 2 });
    expect(resolveVariable('Notes', HEADERS)).toEqual({ column: 6 });
  });

  it('finds a canonical field by its name, whatever the file called the column', () => {
    expect(resolveVariable('first_name', HEADERS)).toEqual({ field: 'first_name' });
    expect(resolveVariable('title', HEADERS)).toEqual({ field: 'title' });
  });

  it('then matches a header ignoring case and runs of whitespace, then a field ignoring case', () => {
    expect(resolveVariable('company   name', HEADERS)).toEqual({ column: 2 });
    expect(resolveVariable('First_Name', HEADERS)).toEqual({ field: 'first_name' });
  });

  it('prefers the exact header to a canonical field of the same name', () => {
    expect(resolveVariable('company', ['company', 'Company Name'])).toEqual({ column: 0 });
  });

  it('knows no other name', () => {
    expect(resolveVariable('Company', HEADERS)).toEqual({ field: 'company' });
    expect(resolveVariable('Favourite Colour', HEADERS)).toBeNull();
    expect(resolveVariable('firstname', HEADERS)).toBeNull();
  });
});

describe('checkTemplates', () => {
  it('names every variable the file cannot fill', () => {
    expect(checkTemplates(['Hi {{first_name}} at {{Employer Name}}', 'P.S. {{Favourite Colour | "blue"}} {{Employer Name}}'], HEADERS)).toEqual({
      unknown: ['Employer Name', 'Favourite Colour'],
      private: [],
      empty: false,
    });
  });

  it('refuses the lead\'s email and phone, by field or by a column the header table reads as one', () => {
    expect(checkTemplates(['{{email}} {{Mobile}} {{Work Email}} {{phone}} {{first_name}}'], HEADERS).private).toEqual([
      'email',
      'Mobile',
      'Work Email',
      'phone',
    ]);
  });

  it('without a file, checks only what needs none', () => {
    expect(checkTemplates(['{{Anything At All}} {{email}} {{Personal Email}} {{}}'])).toEqual({
      unknown: [],
      private: ['email', 'Personal Email'],
      empty: true,
    });
  });

  it('says what is wrong and what the file offers', () => {
    const problems = checkTemplates(['{{Employer}}'], HEADERS);
    const message = templateProblemMessage(problems, 'The personalization prompt', HEADERS)!;
    expect(message).toContain('The personalization prompt uses {{Employer}}, which is neither a column of the file nor a lead field.');
    expect(message).toContain("The file's columns: Email, First Name, Company Name");
    expect(message).toContain('first_name');
    expect(templateProblemMessage(checkTemplates(['{{first_name}}'], HEADERS), 'x', HEADERS)).toBeNull();
  });
});

describe('renderTemplate', () => {
  it('fills each variable with the lead\'s trimmed value', () => {
    expect(renderTemplate('Hi {{First Name}} of {{ company }}!', LEAD)).toBe('Hi Ada of Analytical Engines!');
  });

  it('uses the fallback for a blank or missing value, and nothing when there is none', () => {
    expect(renderTemplate('Re: {{Recent Post | "your work"}}; {{title | "friend"}}; [{{city}}]', LEAD)).toBe('Re: your work; friend; []');
  });

  it('never fills in the email or phone, even when asked', () => {
    expect(renderTemplate('{{email | "-"}} {{Mobile}} {{Work Email}}', LEAD)).toBe('-  ');
  });

  it('writes lead values the given way, and fallbacks as they are', () => {
    expect(renderTemplate('Hi {{first_name}}, {{Notes}} / {{city | "there"}}', LEAD, { value: quoteLeadValue })).toBe(
      'Hi «Ada», «Met at " the " fair last year» / there',
    );
  });

  it('gives the values the variables took, blank ones left out', () => {
    expect(variableValues(['{{first_name}} {{Recent Post}} {{Company Name}}', '{{email}}'], LEAD)).toEqual({
      first_name: 'Ada',
      'Company Name': 'Analytical Engines',
    });
  });
});

describe('quoteLeadValue', () => {
  it('cuts a long value and keeps it on one line', () => {
    const quoted = quoteLeadValue(`${'x'.repeat(400)}\n`);
    expect(quoted.startsWith('«')).toBe(true);
    expect(quoted.endsWith('…»')).toBe(true);
    expect(quoted).toHaveLength(303);
  });
});
