import { describe, expect, test } from '@jest/globals';
import { createDecisionMetrics, createMetrics } from '../../authz/service/metrics.js';

describe('per-Check metrics', () => {
  test('counts by label set, cumulative buckets, escaped label values', () => {
    const h = createDecisionMetrics();
    h.record('scribe', 'allow', 'rule-allow', 'r1', 0.00004);
    h.record('scribe', 'allow', 'rule-allow', 'r1', 0.0003);
    h.record('scribe', 'allow', 'rule-allow', 'r1', 2);
    h.record('a"b\\c\nd', 'deny', 'rule-deny', 'r2', 0.001);
    expect(h.decisions({ agent: 'scribe', decision: 'allow', reason: 'rule-allow', rule: 'r1' })).toBe(3);
    const text = h.text();
    expect(text).toContain(
      'phiguard_decisions_total{agent="scribe",decision="allow",reason="rule-allow",rule="r1"} 3\n',
    );
    expect(text).toContain(
      'phiguard_decisions_total{agent="a\\"b\\\\c\\nd",decision="deny",reason="rule-deny",rule="r2"} 1\n',
    );
    expect(text).toContain('phiguard_check_duration_seconds_bucket{le="0.00005",decision="allow"} 1\n');
    expect(text).toContain('phiguard_check_duration_seconds_bucket{le="0.00025",decision="allow"} 1\n');
    expect(text).toContain('phiguard_check_duration_seconds_bucket{le="0.0005",decision="allow"} 2\n');
    expect(text).toContain('phiguard_check_duration_seconds_bucket{le="1",decision="allow"} 2\n');
    expect(text).toContain('phiguard_check_duration_seconds_bucket{le="+Inf",decision="allow"} 3\n');
    expect(text).toContain('phiguard_check_duration_seconds_count{decision="allow"} 3\n');
    expect(text).toContain('phiguard_check_duration_seconds_bucket{le="0.001",decision="deny"} 1\n');
    // One HELP and TYPE per metric family; every sample line is "name{labels} value".
    for (const line of text.trim().split('\n'))
      expect(line).toMatch(/^(# (HELP|TYPE) \S+ .+|[a-z_]+\{.*\} [0-9.e+-]+)$/);
  });

  test("the exposition has prom-client's metrics and the per-Check ones", async () => {
    const m = createMetrics(() => 0, { defaultMetrics: false });
    m.hot.record('x', 'allow', 'rule-allow', 'r', 0.001);
    m.reloads.inc({ result: 'success' });
    const text = await m.exposition();
    expect(text).toContain('phiguard_policy_reloads_total{result="success"} 1');
    expect(text).toContain('phiguard_decisions_total{agent="x",decision="allow",reason="rule-allow",rule="r"} 1');
  });
});
