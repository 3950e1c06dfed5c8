/**
 * The planner's trade-off as one self-contained SVG (`npm run bench:burst` writes
 * bench/results/burst-holds.svg, which docs/upstream-budget.md shows): for each UPSTREAM_MAX_HOLD_MS, the
 * upstream calls the cold burst cost and its p99 latency, as two bar panels. No dependencies.
 */
export interface HoldPoint {
  holdMs?: number;
  calls: number;
  p99Ms: number;
  rateLimitedItems: number;
}

const WIDTH = 720;
const LABEL_RIGHT = 110;
const PLOT_LEFT = 120;
const PLOT_RIGHT = WIDTH - 80;
const ROW = 24;
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
const COLOURS = { calls: '#4e79a7', p99: '#f28e2b', text: '#222', muted: '#666', grid: '#e3e3e3' };

export function renderHoldPlot(
  points: readonly HoldPoint[],
  subtitle = 'the cold burst: 200 clients × 10 operations, X 50 ms away',
): string {
  const panels = [
    { title: 'upstream calls', colour: COLOURS.calls, value: (p: HoldPoint) => p.calls, unit: '' },
    { title: 'p99 latency', colour: COLOURS.p99, value: (p: HoldPoint) => p.p99Ms, unit: ' ms' },
  ];
  const panelHeight = 28 + points.length * ROW + 10;
  const height = 64 + panels.length * panelHeight + 10;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="${FONT}" fill="${COLOURS.text}" role="img">`,
    `<title>Upstream calls and p99 latency for each UPSTREAM_MAX_HOLD_MS</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="16" y="26" font-size="16" font-weight="bold">What holding buys: upstream calls against p99, per UPSTREAM_MAX_HOLD_MS</text>`,
    `<text x="16" y="46" font-size="12" fill="${COLOURS.muted}">${escapeXml(subtitle)}</text>`,
  ];
  panels.forEach((panel, index) => {
    const top = 64 + index * panelHeight;
    const max = Math.max(1, ...points.map(panel.value));
    out.push(`<text x="16" y="${top + 16}" font-size="13" font-weight="bold">${panel.title}</text>`);
    points.forEach((point, row) => {
      const y = top + 28 + row * ROW;
      const value = panel.value(point);
      const width = ((PLOT_RIGHT - PLOT_LEFT) * value) / max;
      const limited = point.rateLimitedItems > 0 ? ` (${point.rateLimitedItems} RATE_LIMITED)` : '';
      out.push(
        `<text x="${LABEL_RIGHT}" y="${y + 11}" font-size="12" text-anchor="end">hold ${point.holdMs ?? '—'} ms</text>`,
        `<rect x="${PLOT_LEFT}" y="${y + 2}" width="${width.toFixed(1)}" height="12" fill="${panel.colour}"/>`,
        `<text x="${(PLOT_LEFT + width + 6).toFixed(1)}" y="${y + 12}" font-size="11" fill="${COLOURS.muted}">${Math.round(value)}${panel.unit}${index === 0 ? limited : ''}</text>`,
      );
    });
  });
  out.push('</svg>', '');
  return out.join('\n');
}

function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
