import { describe, expect, it } from 'vitest';
import { renderHoldPlot } from '../../bench/hold-plot.js';
import { renderPlot } from '../../bench/plot.js';
import type { BenchResults, ScenarioResult } from '../../bench/results.js';

/**
 * The plot of `npm run bench` (bench/results/latest.svg, shown in the README). Read back the way a
 * viewer reads it: elements must nest, text must be escaped, and bar lengths must mean the numbers.
 */

function scenario(name: string, label: string, overrides: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    name,
    label,
    path: 'cold',
    operations: 1000,
    operationsPerSecond: 50,
    p50Ms: 10,
    p99Ms: 20,
    errors: 0,
    subgraphCpuMsPerOp: 0.4,
    upstreamCpuMsPerOp: 0.1,
    upstreamP99Ms: 5,
    upstreamOperationsPerSecond: 900,
    upstreamCallsPerOp: 1,
    rssMiB: 120,
    ...overrides,
  };
}

const ODD_NAME = 'bitrix24-"deals"&<odd>';
const ODD_LABEL = `Bitrix24 <&> "deals" 'n' users`;

function fixture(overrides: Partial<BenchResults> = {}): BenchResults {
  return {
    version: 1,
    date: '2025-03-04T05:06:07.890Z',
    commit: '0123abc4567890def0123abc4567890def012345',
    machine: { cpuModel: 'Test CPU @ 3.0GHz', cores: 2, memoryGiB: 7.8, node: 'v20.19.0', os: 'Linux 6.1' },
    settings: { seconds: 20, clients: 10, loadGenerator: 'undici Pool', emulatorMode: 'separate process' },
    scenarios: [
      scenario('x-100-users-15-fields', 'xUsers · 100 users · 15 fields'),
      scenario('x-200-users', 'xUsers · 200 users', { subgraphCpuMsPerOp: 0.8, upstreamCpuMsPerOp: 0.2, p99Ms: 40, upstreamP99Ms: 10 }),
      scenario('x-1-user', 'xUsers · 1 user', { subgraphCpuMsPerOp: 0.05, p99Ms: 3 }),
      scenario('telegram-100', 'telegramUsers · 100 users', { upstreamCpuMsPerOp: null, upstreamP99Ms: null }),
      scenario(ODD_NAME, ODD_LABEL, { subgraphCpuMsPerOp: 0.3 }),
      scenario('nexudus-nan', 'nexudusUsers · failed run', { subgraphCpuMsPerOp: Number.NaN, p99Ms: Number.NaN }),
      scenario('x-100-users-warm', 'xUsers · 100 users · warm', { path: 'warm', subgraphCpuMsPerOp: 0.02, p99Ms: 2 }),
      scenario('x-zero', 'xUsers · zero cost', { subgraphCpuMsPerOp: 0, upstreamCpuMsPerOp: 0 }),
    ],
    goals: { cpuMsPerHundredUserOp: 0.7, p99OverUpstream: 1.5, rssMiB: 256 },
    ...overrides,
  };
}

const unescapeXml = (value: string) =>
  value.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!);

function attributesOf(source: string): Record<string, string> {
  return Object.fromEntries([...source.matchAll(/([\w:-]+)="([^"]*)"/g)].map(([, name, value]) => [name!, unescapeXml(value!)]));
}

function elements(svg: string, tag: 'rect' | 'line'): Record<string, string>[] {
  return [...svg.matchAll(new RegExp(`<${tag}\\b([^>]*?)/?>`, 'g'))].map((m) => attributesOf(m[1]!));
}

function texts(svg: string): { attributes: Record<string, string>; content: string }[] {
  return [...svg.matchAll(/<text\b([^>]*)>(.*?)<\/text>/gs)].map((m) => ({
    attributes: attributesOf(m[1]!),
    content: unescapeXml(m[2]!.replace(/<title>.*?<\/title>/s, '')),
  }));
}

/** The markup of one panel; panels hold no nested groups, so the first `</g>` ends it. */
function panel(svg: string, title: string): string {
  const start = svg.indexOf(`<g data-panel="${title}">`);
  expect(start, `panel ${title}`).toBeGreaterThanOrEqual(0);
  return svg.slice(start, svg.indexOf('</g>', start));
}

function bar(svg: string, series: string, name: string): Record<string, string> | undefined {
  return elements(svg, 'rect').find((r) => r['data-series'] === series && r['data-scenario'] === name);
}

function barWidth(svg: string, series: string, name: string): number {
  const found = bar(svg, series, name);
  expect(found, `${series} bar of ${name}`).toBeDefined();
  return Number(found!.width);
}

function valueText(svg: string, series: string, name: string): string | undefined {
  return texts(svg).find((t) => t.attributes['data-series'] === series && t.attributes['data-scenario'] === name)?.content;
}

/** A strict little XML reader: every tag well-formed and nested, one root, no raw `<` or bare `&` anywhere. */
function expectWellFormed(svg: string): void {
  const stack: string[] = [];
  let roots = 0;
  let last = 0;
  const bareAmpersand = /&(?!(amp|lt|gt|quot|apos);)/;
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/g)) {
    const between = svg.slice(last, m.index);
    expect(between, `text before ${m[0]}`).not.toMatch(/[<>]/);
    expect(between, `text before ${m[0]}`).not.toMatch(bareAmpersand);
    expect(m[3], `attributes of <${m[2]}>`).not.toMatch(bareAmpersand);
    last = m.index + m[0].length;
    const [, closing, name, , selfClosing] = m;
    if (closing) expect(stack.pop(), `</${name}> closes`).toBe(name);
    else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    }
  }
  expect(svg.slice(last).trim(), 'after the root').toBe('');
  expect(stack, 'unclosed elements').toEqual([]);
  expect(roots).toBe(1);
}

const count = (svg: string, pattern: RegExp) => svg.match(pattern)?.length ?? 0;

describe('renderPlot', () => {
  const results = fixture();
  const svg = renderPlot(results);

  it('is one well-formed SVG document', () => {
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expectWellFormed(svg);
    expect(count(svg, /<text\b/g)).toBe(count(svg, /<\/text>/g));
    expect(count(svg, /<g\b/g)).toBe(count(svg, /<\/g>/g));
    // Self-contained: nothing fetched from elsewhere.
    expect(svg).not.toMatch(/@import|url\(|href=/);
  });

  it('titles the plot with the date, the short commit, the machine and the settings', () => {
    const all = texts(svg).map((t) => t.content);
    expect(all).toContain('users-subgraph cold path — 2025-03-04 05:06 UTC — 0123abc');
    expect(svg).not.toContain(results.commit);
    const subtitle = all.join('\n');
    for (const detail of ['Test CPU @ 3.0GHz', '2 cores', '7.8 GiB', 'v20.19.0', '10 clients', '20 s', 'undici Pool', 'separate process']) {
      expect(subtitle).toContain(detail);
    }
  });

  it('labels every row in both panels, warm rows as cache on', () => {
    const expected = results.scenarios.map((s) => (s.path === 'warm' ? `${s.label} (cache on)` : s.label));
    expect(expected).toContain('xUsers · 100 users · warm (cache on)');
    for (const title of ['CPU per operation (ms)', 'p99 latency (ms)']) {
      const labels = texts(panel(svg, title))
        .filter((t) => t.attributes['data-role'] === 'label')
        .map((t) => t.content);
      expect(labels).toEqual(expected);
    }
  });

  it('escapes text and attributes for XML', () => {
    expect(svg).not.toContain('<&>');
    expect(svg).toContain('Bitrix24 &lt;&amp;&gt; &quot;deals&quot; &apos;n&apos; users');
    expect(bar(svg, 'subgraph-cpu', ODD_NAME), 'the bar of the oddly named scenario').toBeDefined();
  });

  it('draws the CPU goal as a dashed vertical line at the goal value, labelled with it', () => {
    const check = (goal: number) => {
      const plot = renderPlot(fixture({ goals: { ...results.goals, cpuMsPerHundredUserOp: goal } }));
      const cpu = panel(plot, 'CPU per operation (ms)');
      const lines = elements(cpu, 'line').filter((l) => l['data-role'] === 'goal');
      expect(lines).toHaveLength(1);
      const line = lines[0]!;
      expect(line.x1).toBe(line.x2);
      expect(line['stroke-dasharray']).toBeTruthy();
      // Where the goal value falls on the same scale as the bars: 0.4 ms is the first scenario's bar.
      const reference = bar(cpu, 'subgraph-cpu', 'x-100-users-15-fields')!;
      const expectedX = Number(reference.x) + (goal * Number(reference.width)) / 0.4;
      expect(Number(line.x1)).toBeCloseTo(expectedX, 1);
      expect(Number(line.x1)).toBeLessThanOrEqual(Number(/width="(\d+)"/.exec(plot)![1]));
      expect(texts(cpu).map((t) => t.content)).toContain(`goal ${goal} ms (100 users)`);
    };
    check(0.7);
    // A goal beyond every bar still lies on the axis.
    check(1.5);
    expect(elements(panel(svg, 'p99 latency (ms)'), 'line').filter((l) => l['data-role'] === 'goal')).toEqual([]);
  });

  it('draws bars proportional to their values, on one scale per panel', () => {
    const cpu = panel(svg, 'CPU per operation (ms)');
    const base = barWidth(cpu, 'subgraph-cpu', 'x-100-users-15-fields');
    expect(base).toBeGreaterThan(10);
    expect(barWidth(cpu, 'subgraph-cpu', 'x-200-users') / base).toBeCloseTo(2, 2);
    expect(barWidth(cpu, 'subgraph-cpu', 'x-1-user') / base).toBeCloseTo(0.125, 2);
    expect(barWidth(cpu, 'upstream-cpu', 'x-100-users-15-fields') / base).toBeCloseTo(0.25, 2);
    expect(barWidth(cpu, 'subgraph-cpu', 'x-zero')).toBe(0);

    const p99 = panel(svg, 'p99 latency (ms)');
    const p99Base = barWidth(p99, 'subgraph-p99', 'x-100-users-15-fields');
    expect(barWidth(p99, 'subgraph-p99', 'x-200-users') / p99Base).toBeCloseTo(2, 2);
    expect(barWidth(p99, 'upstream-p99', 'x-100-users-15-fields') / p99Base).toBeCloseTo(0.25, 2);

    // Every bar starts at the axis.
    expect(
      new Set(
        elements(svg, 'rect')
          .filter((r) => r['data-series'])
          .map((r) => r.x),
      ).size,
    ).toBe(1);
  });

  it('prints each value at its bar: CPU with 2 decimals, p99 with 1', () => {
    expect(valueText(svg, 'subgraph-cpu', 'x-100-users-15-fields')).toBe('0.40');
    expect(valueText(svg, 'upstream-cpu', 'x-200-users')).toBe('0.20');
    expect(valueText(svg, 'subgraph-p99', 'x-100-users-15-fields')).toBe('20.0');
    expect(valueText(svg, 'upstream-p99', 'x-1-user')).toBe('5.0');
    const end = bar(svg, 'subgraph-cpu', 'x-200-users')!;
    const label = texts(svg).find(
      (t) => t.attributes['data-series'] === 'subgraph-cpu' && t.attributes['data-scenario'] === 'x-200-users',
    )!;
    expect(Number(label.attributes.x)).toBeGreaterThanOrEqual(Number(end.x) + Number(end.width));
  });

  it('scales the axis from the data with round ticks that agree with the bars', () => {
    const cpu = panel(svg, 'CPU per operation (ms)');
    const ticks = texts(cpu)
      .filter((t) => t.attributes['data-role'] === 'tick')
      .map((t) => ({ value: Number(t.content), x: Number(t.attributes.x) }));
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(ticks.length).toBeLessThanOrEqual(7);
    const first = ticks[0]!;
    const last = ticks.at(-1)!;
    expect(first.value).toBe(0);
    // The largest CPU value here is 0.8 ms: the axis covers it, without wasting half the width.
    expect(last.value).toBeGreaterThanOrEqual(0.8);
    expect(last.value).toBeLessThanOrEqual(1.2);
    const reference = bar(cpu, 'subgraph-cpu', 'x-200-users')!;
    expect(Number(reference.x)).toBeCloseTo(first.x, 1);
    expect(Number(reference.width) / (last.x - first.x)).toBeCloseTo(0.8 / last.value, 3);
  });

  it('prints n/a for a NaN value, draws no bar for it, and writes NaN nowhere', () => {
    expect(bar(svg, 'subgraph-cpu', 'nexudus-nan')).toBeUndefined();
    expect(bar(svg, 'subgraph-p99', 'nexudus-nan')).toBeUndefined();
    expect(valueText(svg, 'subgraph-cpu', 'nexudus-nan')).toBe('n/a');
    expect(valueText(svg, 'subgraph-p99', 'nexudus-nan')).toBe('n/a');
    // The measured upstream of the same row is still drawn.
    expect(bar(svg, 'upstream-cpu', 'nexudus-nan')).toBeDefined();
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  it('omits the upstream bars when the upstream was not measured', () => {
    for (const series of ['upstream-cpu', 'upstream-p99']) {
      expect(bar(svg, series, 'telegram-100')).toBeUndefined();
      expect(valueText(svg, series, 'telegram-100')).toBeUndefined();
    }
    expect(bar(svg, 'subgraph-cpu', 'telegram-100')).toBeDefined();
    // Not measured is not failed: the only n/a are the NaN scenario's two values.
    expect(texts(svg).filter((t) => t.content === 'n/a')).toHaveLength(2);
  });

  it('gives every row its own band, bars not overlapping the next row', () => {
    for (const [title, series] of [
      ['CPU per operation (ms)', ['subgraph-cpu', 'upstream-cpu']],
      ['p99 latency (ms)', ['subgraph-p99', 'upstream-p99']],
    ] as const) {
      const bars = elements(panel(svg, title), 'rect').filter((r) => series.includes(r['data-series'] as never));
      const bandOf = (name: string) => {
        const own = bars.filter((r) => r['data-scenario'] === name);
        return { top: Math.min(...own.map((r) => Number(r.y))), bottom: Math.max(...own.map((r) => Number(r.y) + Number(r.height))) };
      };
      const bands = results.scenarios.filter((s) => bars.some((r) => r['data-scenario'] === s.name)).map((s) => bandOf(s.name));
      expect(bands.length).toBeGreaterThanOrEqual(7);
      for (let i = 1; i < bands.length; i++) expect(bands[i]!.top, `row ${i} of ${title}`).toBeGreaterThanOrEqual(bands[i - 1]!.bottom);
    }
  });

  it('cuts a label too long for its column, keeping the whole label as an escaped tooltip', () => {
    const long = 'xUsers & friends · 100 users · 15 fields · with a very long description';
    const plot = renderPlot(fixture({ scenarios: [scenario('long', long)] }));
    expectWellFormed(plot);
    const shown = texts(plot).find((t) => t.attributes['data-role'] === 'label')!.content;
    expect(shown.endsWith('…')).toBe(true);
    expect(long.startsWith(shown.slice(0, -1))).toBe(true);
    expect(shown.length).toBeLessThan(long.length);
    expect(plot).toContain(`<title>xUsers &amp; friends · 100 users · 15 fields · with a very long description</title>`);
  });

  it('draws the peer and the floor in colours of their own beside the subgraph, and writes their ratios under the panels', () => {
    const withOthers = renderPlot(
      fixture({
        scenarios: [
          scenario('x-100-users-15-fields', 'xUsers · 100 users · 15 fields'),
          scenario('peer-100-users-15-fields', 'peer · 100 users', { target: 'peer', subgraphCpuMsPerOp: 1.2 }),
          scenario('floor-100-users-15-fields', 'floor · 100 users', { target: 'floor', subgraphCpuMsPerOp: 0.2 }),
        ],
        comparisons: [
          {
            size: '100 users · 15 fields',
            subgraph: 'x-100-users-15-fields',
            peer: 'peer-100-users-15-fields',
            subgraphCache: 'on',
            subgraphOverUpstream: 4,
            peerOverUpstream: 12,
            peerOverSubgraph: 3,
            subgraphRssMiB: 120,
            peerRssMiB: 400,
            floorOverUpstream: 2,
            subgraphOverFloor: 2,
            floorRssMiB: 90,
          },
        ],
      }),
    );
    expectWellFormed(withOthers);
    const cpu = panel(withOthers, 'CPU per operation (ms)');
    const fills = (series: string, name: string) => bar(cpu, series, name)?.fill;
    expect(fills('subgraph-cpu', 'x-100-users-15-fields')).toBe('#4e79a7');
    expect(fills('peer-cpu', 'peer-100-users-15-fields')).toBe('#59a14f');
    expect(fills('floor-cpu', 'floor-100-users-15-fields')).toBe('#9c9c9c');
    expect(barWidth(cpu, 'floor-cpu', 'floor-100-users-15-fields') / barWidth(cpu, 'subgraph-cpu', 'x-100-users-15-fields')).toBeCloseTo(
      0.5,
      2,
    );
    expect(bar(panel(withOthers, 'p99 latency (ms)'), 'floor-p99', 'floor-100-users-15-fields')).toBeDefined();
    const written = texts(withOthers).map((t) => t.content);
    expect(written).toContain('floor: least Node can do');
    expect(written.some((t) => t.includes('peer ÷ subgraph 3.0×, floor 2.0×; RSS 120 MiB against 400 MiB (floor 90)'))).toBe(true);
  });

  it('fits 1 to 20 scenarios inside the width, growing in height', () => {
    const heightOf = (plot: string) => Number(/^<svg [^>]*height="(\d+(?:\.\d+)?)"/.exec(plot)![1]);
    const widthOf = (plot: string) => Number(/^<svg [^>]*width="(\d+(?:\.\d+)?)"/.exec(plot)![1]);
    const withScenarios = (n: number) =>
      renderPlot(
        fixture({
          scenarios: Array.from({ length: n }, (_, i) =>
            scenario(`s-${i}`, `scenario ${i}`, { subgraphCpuMsPerOp: (i + 1) * 0.3, p99Ms: (i + 1) * 7 }),
          ),
        }),
      );
    const one = withScenarios(1);
    const twenty = withScenarios(20);
    expect(heightOf(twenty)).toBeGreaterThan(heightOf(one) + 19 * 2 * 15);
    for (const plot of [one, twenty]) {
      expectWellFormed(plot);
      const width = widthOf(plot);
      const height = heightOf(plot);
      expect(width).toBeGreaterThanOrEqual(800);
      expect(width).toBeLessThanOrEqual(1000);
      for (const r of elements(plot, 'rect')) {
        expect(Number(r.x) + Number(r.width)).toBeLessThanOrEqual(width);
        expect(Number(r.y) + Number(r.height)).toBeLessThanOrEqual(height);
      }
      for (const t of texts(plot)) {
        expect(Number(t.attributes.y)).toBeLessThanOrEqual(height);
        expect(Number(t.attributes.x)).toBeLessThan(width);
      }
    }
    expect(texts(twenty).filter((t) => t.attributes['data-role'] === 'label')).toHaveLength(40);
  });
});

describe('renderHoldPlot (bench/results/burst-holds.svg, shown in docs/upstream-budget.md)', () => {
  const points = [
    { holdMs: 0, calls: 114, p99Ms: 1012, rateLimitedItems: 0 },
    { holdMs: 100, calls: 29, p99Ms: 1296, rateLimitedItems: 0 },
    { holdMs: 2000, calls: 28, p99Ms: 2193, rateLimitedItems: 0 },
  ];
  const svg = renderHoldPlot(points);

  it('is one well-formed, self-contained SVG document', () => {
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expectWellFormed(svg);
    expect(svg).not.toMatch(/@import|url\(|href=/);
  });

  it('labels each hold in both panels and draws bars proportional to calls and to p99', () => {
    const labels = texts(svg).map((t) => t.content);
    for (const hold of ['hold 0 ms', 'hold 100 ms', 'hold 2000 ms']) expect(labels.filter((label) => label === hold)).toHaveLength(2);
    const widths = [...svg.matchAll(/<rect x="120" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toHaveLength(6);
    expect(widths[0]! / widths[1]!).toBeCloseTo(114 / 29, 1);
    expect(widths[5]! / widths[3]!).toBeCloseTo(2193 / 1012, 1);
  });
});
