/**
 * A scenario's lead file: every lead has its own company, named after the scenario
 * ("Chaos s3-nats-restart Co 00042"), so the sandbox bills each answer to exactly one lead and
 * one scenario. The names avoid the sandbox's markers (Redraft, NeedsReview), so a lead needs
 * review only if the pipeline misbehaves; about a quarter of first drafts still break a rule and
 * are rewritten, as the sandbox's writer does.
 */
export interface ChaosFile {
  readonly tag: string;
  readonly leads: number;
  readonly csv: string;
  /** Every lead's company starts with this. */
  readonly companyPrefix: string;
}

const FIRST = ['Ana', 'Ben', 'Chloe', 'Diego', 'Emma', 'Farah', 'Gus', 'Hana', 'Ivan', 'Jade', 'Kofi', 'Lena'];
const TITLES = ['VP Operations', 'Head of Sales', 'CTO', 'Marketing Director', 'Founder', 'COO'];

export function leadFile(tag: string, leads: number): ChaosFile {
  const companyPrefix = `Chaos ${tag} Co `;
  const rows = ['Email,First Name,Company,Title'];
  for (let index = 0; index < leads; index += 1) {
    const number = String(index).padStart(5, '0');
    rows.push(`lead${number}@${tag}-co${number}.example,${FIRST[index % FIRST.length]},${companyPrefix}${number},${TITLES[index % TITLES.length]}`);
  }
  return { tag, leads, csv: `${rows.join('\n')}\n`, companyPrefix };
}
