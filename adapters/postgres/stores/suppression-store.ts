/**
 * The suppression list (ports/suppression-store.port.ts) on `suppressions` (migration 0018),
 * unique by user and value. Every statement is scoped by the owner.
 */
import type { EarlierPersonalization, SuppressionEntry, SuppressionKind } from '../../../domain/suppression/suppression.ts';
import {
  InvalidSuppressionCursorError,
  type LeadScreen,
  type LeadScreening,
  type LeadToScreen,
  type SuppressionList,
  type SuppressionPage,
  type SuppressionView,
} from '../../../ports/suppression-store.port.ts';
import type { Lanes } from '../changes.ts';
import type { Sql } from '../client.ts';
import { isUuid } from '../sql.ts';
import { traced } from '../traced.ts';

/** Entries per insert statement: a list of 100,000 addresses goes in 20 round trips, in one transaction. */
const INSERT_BATCH = 5_000;

interface SuppressionRow {
  id: string;
  value: string;
  kind: SuppressionKind;
  created_at: Date;
}

export class PostgresSuppressionStore implements SuppressionList, LeadScreen {
  readonly #sql: Sql;
  readonly #lanes: Lanes;

  constructor(sql: Sql, lanes: Lanes) {
    this.#sql = sql;
    this.#lanes = lanes;
  }

  list(userId: string, page: { readonly q?: string; readonly cursor?: string; readonly limit: number }): Promise<SuppressionPage> {
    return traced('listSuppressions', {}, async () => {
      if (!Number.isInteger(page.limit) || page.limit < 1) throw new RangeError('limit must be a positive integer');
      const after = page.cursor === undefined ? null : decodeCursor(page.cursor);
      if (!isUuid(userId)) return { suppressions: [], next_cursor: null };
      const sql = this.#sql;
      const rows = await sql<SuppressionRow[]>`
        select id, value, kind, created_at
        from suppressions
        where user_id = ${userId}
          ${page.q === undefined || page.q === '' ? sql`` : sql`and value like ${`%${escapeLike(page.q.toLowerCase())}%`}`}
          ${after === null ? sql`` : sql`and value > ${after}`}
        order by value
        limit ${page.limit + 1}`;
      const more = rows.length > page.limit;
      const suppressions = (more ? rows.slice(0, page.limit) : rows).map(toView);
      const last = suppressions.at(-1);
      return { suppressions, next_cursor: more && last !== undefined ? encodeCursor(last.value) : null };
    });
  }

  add(userId: string, entries: readonly SuppressionEntry[]): Promise<readonly SuppressionView[]> {
    return traced('addSuppressions', { 'suppressions.count': entries.length }, async () => {
      const unique = [...new Map(entries.map((entry) => [entry.value, entry])).values()];
      if (unique.length === 0) return [];
      const added = await this.#sql.begin(async (tx) => {
        const rows: SuppressionRow[] = [];
        for (let start = 0; start < unique.length; start += INSERT_BATCH) {
          const batch = unique.slice(start, start + INSERT_BATCH);
          rows.push(
            ...(await tx<SuppressionRow[]>`
              insert into suppressions (user_id, value, kind)
              select ${userId}, t.value, t.kind
              from unnest(${batch.map((entry) => entry.value)}::text[], ${batch.map((entry) => entry.kind)}::text[]) as t(value, kind)
              on conflict (user_id, value) do nothing
              returning id, value, kind, created_at`),
          );
        }
        return rows;
      });
      return added.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0)).map(toView);
    });
  }

  remove(userId: string, id: string): Promise<boolean> {
    return traced('removeSuppression', {}, async () => {
      if (!isUuid(userId) || !isUuid(id)) return false;
      const { count } = await this.#sql`delete from suppressions where id = ${id} and user_id = ${userId}`;
      return count > 0;
    });
  }

  removeValue(userId: string, value: string): Promise<SuppressionView | null> {
    return traced('removeSuppression', {}, async () => {
      if (!isUuid(userId)) return null;
      const [row] = await this.#sql<SuppressionRow[]>`
        delete from suppressions where user_id = ${userId} and value = ${value}
        returning id, value, kind, created_at`;
      return row === undefined ? null : toView(row);
    });
  }

  /**
   * Two index look-ups for the batch: its leads' keys in the owner's list (by user and value), and,
   * with a window, its emails among the owner's personalized leads of other campaigns (the partial
   * index of 0018), the latest of each.
   */
  screen(
    run: { readonly userId: string; readonly campaignId: string | null },
    leads: readonly LeadToScreen[],
    withinDays: number | null,
  ): Promise<ReadonlyMap<string, LeadScreening>> {
    return traced('screenLeads', { 'leads.count': leads.length }, async () => {
      const found = new Map<string, { listed: string[]; personalizedElsewhere: EarlierPersonalization | null }>();
      const entry = (email: string) => {
        let screening = found.get(email);
        if (screening === undefined) {
          screening = { listed: [], personalizedElsewhere: null };
          found.set(email, screening);
        }
        return screening;
      };
      if (leads.length === 0) return found;
      const emails = leads.flatMap((lead) => lead.keys.map(() => lead.email));
      const keys = leads.flatMap((lead) => lead.keys);
      const listed = await this.#sql<{ email: string; value: string }[]>`
        select distinct t.email, s.value
        from unnest(${emails}::text[], ${keys}::text[]) as t(email, key)
        join suppressions s on s.user_id = ${run.userId} and s.value = t.key`;
      for (const row of listed) entry(row.email).listed.push(row.value);
      if (withinDays !== null) {
        const earlier = await this.#sql<{ email: string; name: string; settled_at: Date }[]>`
          select distinct on (l.email) l.email, c.name, l.settled_at
          from leads l
          join campaigns c on c.id = l.campaign_id
          where l.user_id = ${run.userId} and l.status = 'personalized'
            and l.email = any(${leads.map((lead) => lead.email)}::text[])
            ${run.campaignId === null ? this.#sql`` : this.#sql`and l.campaign_id <> ${run.campaignId}`}
            and l.settled_at >= now() - make_interval(days => ${withinDays})
          order by l.email, l.settled_at desc`;
        for (const row of earlier) entry(row.email).personalizedElsewhere = { campaignName: row.name, personalizedAt: row.settled_at.toISOString() };
      }
      return found;
    });
  }

  listedFor(runId: string, keys: readonly string[]): Promise<readonly string[]> {
    return traced('listedFor', { run_id: runId }, async () => {
      if (keys.length === 0) return [];
      // In the shared lane: batched with the pipeline's other per-lead statements.
      const rows = await this.#lanes.read((tx) => tx<{ value: string }[]>`
        select s.value
        from campaign_runs r
        join suppressions s on s.user_id = r.user_id and s.value = any(${[...keys]}::text[])
        where r.id = ${runId}`);
      return rows.map((row) => row.value);
    });
  }
}

function toView(row: SuppressionRow): SuppressionView {
  return { id: row.id, value: row.value, kind: row.kind, created_at: row.created_at.toISOString() };
}

/** `q` matched literally: LIKE's wildcards and its escape character are escaped. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

function encodeCursor(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw new InvalidSuppressionCursorError();
  const value = Buffer.from(cursor, 'base64url').toString('utf8');
  if (value === '' || value.includes('\uFFFD')) throw new InvalidSuppressionCursorError();
  return value;
}
