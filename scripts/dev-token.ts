/**
 * Prints a Supabase-style access token for local development, signed with SUPABASE_JWT_SECRET
 * (`npm run token` loads .env.development). Usage: npm run token -- [--user <uuid>] [--hours <n>]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';

const { values } = parseArgs({
  options: {
    user: { type: 'string', default: '00000000-0000-4000-8000-000000000001' },
    hours: { type: 'string', default: '12' },
  },
});

const secret = process.env.SUPABASE_JWT_SECRET;
if (!secret) {
  console.error('SUPABASE_JWT_SECRET is not set: run this through `npm run token`, which loads .env.development.');
  process.exit(1);
}

const token = await new SignJWT({ role: 'authenticated', session_id: randomUUID() })
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .setSubject(values.user)
  .setAudience('authenticated')
  .setIssuedAt()
  .setExpirationTime(`${Number(values.hours)}h`)
  .sign(new TextEncoder().encode(secret));

console.log(token);
