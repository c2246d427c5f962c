/**
 * Phrases an opening line must not contain: the clichés that mark a cold email as mass-produced,
 * and the pitch the writer is told to leave out. Matched case-insensitively on word boundaries,
 * with a space and a hyphen interchangeable ("game changer" = "game-changer"); each inflection
 * that matters is its own entry, since a word boundary keeps "synergy" from matching "synergies".
 * Deployments replace the list from configuration.
 */
export const DEFAULT_BANNED_PHRASES: readonly string[] = [
  'I hope this email finds you well',
  'hope this finds you well',
  'hope you are doing well',
  "hope you're doing well",
  'I came across your profile',
  'I came across your company',
  'touch base',
  'synergy',
  'synergies',
  'game-changer',
  'circle back',
  'quick question',
  'revolutionize',
  'revolutionise',
  'revolutionizing',
  'cutting-edge',
  'best-in-class',
  'world-class',
  'low-hanging fruit',
  'paradigm shift',
  'move the needle',
  'just checking in',
  'pick your brain',
  "I'm impressed",
  'huge fan',
  'amazing work',
  'hop on a call',
  'jump on a call',
];
