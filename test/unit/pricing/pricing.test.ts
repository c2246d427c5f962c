import { describe, expect, it } from 'vitest';
import {
  costOf,
  usdToMicros,
  DEFAULT_ESTIMATE_ASSUMPTIONS,
  DEFAULT_PRICING,
  estimateRunCost,
  type Price,
  type Pricing,
} from '../../../domain/pricing/pricing.ts';

const SONAR: Price = { perRequestUsd: 0.005, perMillionInputTokensUsd: 1, perMillionOutputTokensUsd: 1 };
const SONNET: Price = { perRequestUsd: 0, perMillionInputTokensUsd: 3, perMillionOutputTokensUsd: 15 };

describe('costOf', () => {
  it('adds the request fee and both token prices, to the micro-dollar', () => {
    // 0.005 + 1,234 × $1/M + 567 × $1/M
    expect(costOf({ inputTokens: 1_234, outputTokens: 567 }, SONAR)).toBe('0.006801');
    // 1,800 × $3/M + 120 × $15/M = 0.0054 + 0.0018
    expect(costOf({ inputTokens: 1_800, outputTokens: 120 }, SONNET)).toBe('0.007200');
  });

  it('is exact where floating point is not', () => {
    const price: Price = { perRequestUsd: 0.1, perMillionInputTokensUsd: 0.2, perMillionOutputTokensUsd: 0 };
    // 0.1 + 0.2 in binary floats is 0.30000000000000004.
    expect(costOf({ inputTokens: 1_000_000, outputTokens: 0 }, price)).toBe('0.300000');
    // $0.15 per million: 7 tokens cost 1.05 micro-dollars, recorded as 1.
    expect(costOf({ inputTokens: 7, outputTokens: 0 }, { perRequestUsd: 0, perMillionInputTokensUsd: 0.15, perMillionOutputTokensUsd: 0 })).toBe('0.000001');
    // Half a micro-dollar rounds up.
    expect(costOf({ inputTokens: 0, outputTokens: 1 }, { perRequestUsd: 0, perMillionInputTokensUsd: 0, perMillionOutputTokensUsd: 0.5 })).toBe('0.000001');
    expect(costOf({ inputTokens: 0, outputTokens: 1 }, { perRequestUsd: 0, perMillionInputTokensUsd: 0, perMillionOutputTokensUsd: 0.4 })).toBe('0.000000');
  });

  it('writes whole dollars with six decimals', () => {
    expect(costOf({ inputTokens: 2_000_000, outputTokens: 1_000_000 }, SONNET)).toBe('21.000000');
  });

  it('is zero for zero usage at no request fee, and the request fee alone for zero tokens', () => {
    expect(costOf({ inputTokens: 0, outputTokens: 0 }, SONNET)).toBe('0.000000');
    expect(costOf({ inputTokens: 0, outputTokens: 0 }, SONAR)).toBe('0.005000');
  });

  it('counts only the request fee when the provider reported no usage', () => {
    expect(costOf(undefined, SONAR)).toBe('0.005000');
    expect(costOf(undefined, SONNET)).toBe('0.000000');
  });

  it('floors at zero and rounds token counts a provider got wrong, instead of failing a paid call', () => {
    expect(costOf({ inputTokens: -50, outputTokens: Number.NaN }, SONAR)).toBe('0.005000');
    expect(costOf({ inputTokens: 999.6, outputTokens: 0 }, SONNET)).toBe('0.003000');
  });

  it('rejects a negative or non-finite price', () => {
    expect(() => costOf(undefined, { ...SONAR, perRequestUsd: -1 })).toThrow(RangeError);
    expect(() => costOf({ inputTokens: 1, outputTokens: 1 }, { ...SONNET, perMillionOutputTokensUsd: Number.POSITIVE_INFINITY })).toThrow(
      /perMillionOutputTokensUsd/,
    );
  });
});

describe('estimateRunCost', () => {
  const pricing: Pricing = { research: SONAR, personalization: SONNET };
  const assumptions = {
    researchInputTokens: 4_000,
    researchOutputTokens: 600,
    writerInputTokens: 1_800,
    writerOutputTokens: 120,
    writerCallsPerLead: 1.15,
  };

  it('is valid leads × (one research call + the expected writer calls) at the assumed tokens', () => {
    // research 0.005 + 0.004 + 0.0006 = 0.0096; writer 1.15 × 0.0072 = 0.00828
    expect(estimateRunCost(1, pricing, assumptions)).toEqual({ perLeadUsd: '0.017880', totalUsd: '0.017880', assumptions });
    expect(estimateRunCost(250, pricing, assumptions)).toMatchObject({ perLeadUsd: '0.017880', totalUsd: '4.470000' });
  });

  it('is exactly proportional to the valid leads', () => {
    const perLead = estimateRunCost(1, pricing, assumptions).totalUsd;
    for (const leads of [0, 3, 1_000, 100_000]) {
      const { totalUsd } = estimateRunCost(leads, pricing, assumptions);
      expect(toMicros(totalUsd)).toBe(toMicros(perLead) * BigInt(leads));
    }
    expect(estimateRunCost(0, pricing, assumptions).totalUsd).toBe('0.000000');
  });

  it('uses the default assumptions, and says which', () => {
    const estimate = estimateRunCost(10, DEFAULT_PRICING);
    expect(estimate.assumptions).toBe(DEFAULT_ESTIMATE_ASSUMPTIONS);
    expect(estimate).toMatchObject({ perLeadUsd: '0.017880', totalUsd: '0.178800' });
  });

  it('follows the configured prices', () => {
    const free: Price = { perRequestUsd: 0, perMillionInputTokensUsd: 0, perMillionOutputTokensUsd: 0 };
    expect(estimateRunCost(5, { research: SONAR, personalization: free }, assumptions).perLeadUsd).toBe('0.009600');
    expect(estimateRunCost(5, { research: free, personalization: SONNET }, assumptions).perLeadUsd).toBe('0.008280');
  });

  it('rejects a count of leads that is not a whole number, and negative assumptions', () => {
    expect(() => estimateRunCost(-1, pricing)).toThrow(RangeError);
    expect(() => estimateRunCost(1.5, pricing)).toThrow(RangeError);
    expect(() => estimateRunCost(1, pricing, { ...assumptions, writerCallsPerLead: -1 })).toThrow(/writerCallsPerLead/);
  });
});

function toMicros(amount: string): bigint {
  expect(amount).toMatch(/^\d+\.\d{6}$/);
  return BigInt(amount.replace('.', ''));
}

describe('usdToMicros', () => {
  it('reads amounts as PostgreSQL and the configuration write them, exactly', () => {
    expect(usdToMicros('0.017880')).toBe(17_880n);
    expect(usdToMicros('12')).toBe(12_000_000n);
    expect(usdToMicros('12.5')).toBe(12_500_000n);
    expect(usdToMicros('0.0000005')).toBe(1n);
    expect(usdToMicros('0.0000004')).toBe(0n);
    expect(() => usdToMicros('-1')).toThrow(RangeError);
    expect(() => usdToMicros('$5')).toThrow(RangeError);
  });
});
