import { describe, expect, it } from 'vitest';
import { loadJourneyTexts } from '../../../../src/journeys/definition/load.js';

function warnings(...spec: string[]): string[] {
  const text = ['apiVersion: pulse/v1', 'kind: Journey', 'metadata: { name: checkout }', 'spec:', '  start: { span: x }', ...spec, ''].join('\n');
  const r = loadJourneyTexts([{ file: 'j.yaml', text }]);
  if ('issues' in r) throw new Error(`expected a valid journey, got ${r.issues.map((i) => i.message).join('; ')}`);
  return r.warnings.map((w) => `${w.line}:${w.col}: ${w.message}`);
}

describe('burn-rate rules that can never fire are loader warnings (validate, journeys test, hot reload)', () => {
  it('at the target, when the default rules cannot reach it', () => {
    // With a 90% target the default fast page rule (×14.4, its windows scaled to the 28d objective) would need a
    // 144% error rate; the others (×6, ×3, ×1) can still fire.
    expect(warnings('  objective: { target: 90% }')).toEqual([
      '6:24: journey checkout: the page burn rate 56m/4m40s with factor 14.4 (a default rule) can never fire: factor × (1 − target) = 1.440 is not below 1 (a 100% error rate); lower the factor or the target',
    ]);
  });

  it('at the factor of a written rule, and none for a rule that can fire', () => {
    expect(
      warnings('  objective: { target: 99% }', '  alerts:', '    burn_rates:', '      - { severity: page, long: 1h, short: 5m, factor: 14.4 }', '      - { severity: ticket, long: 6h, short: 30m, factor: 100 }'),
    ).toEqual([
      '10:59: journey checkout: the ticket burn rate 6h/30m with factor 100 can never fire: factor × (1 − target) = 1.000 is not below 1 (a 100% error rate); lower the factor or the target',
    ]);
    expect(warnings('  objective: { target: 99.9% }')).toEqual([]);
  });
});
