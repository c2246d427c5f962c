/**
 * The pipeline's consumers: the only registry. Roles, the JetStream topology, what each process
 * runs, the configuration's documentation and the README's table of consumers are derived from
 * this list (kernel/assemble.ts). To add a consumer, see the README's "Adding a consumer".
 */
import type { AnyConsumer } from '../kernel/declaration.ts';
import { extraction } from './extraction.ts';
import { personalization } from './personalization.ts';
import { projection } from './projection.ts';
import { research } from './research.ts';
import { webhook } from './webhook.ts';

export const CONSUMERS: readonly AnyConsumer[] = [extraction, research, personalization, projection, webhook];
