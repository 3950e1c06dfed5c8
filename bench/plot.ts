/**
 * Draws the results of `npm run bench` as one self-contained SVG: `npm run bench` writes it to
 * `bench/results/latest.svg`, which the README shows. Two horizontal bar-chart panels, one row per
 * scenario: CPU per operation (subgraph against the upstream emulator, with the goal line) and p99
 * latency (subgraph against the upstream's own p99). The peer's rows (Hive Gateway + Mesh, `target:
 * 'peer'`) sit beside the subgraph's for the same work, their own bar in a colour of its own against the
 * same upstream bar, as do the floor's (bench/floor.ts, `target: 'floor'`, grey), and the ratios of each
 * size (`comparisons`) are written under the panels. No
 * dependencies, no external fonts or CSS, so the file renders the same on GitHub, in a browser and in an
 * image viewer.
 */
import type { BenchResults, Comparison, ScenarioResult } from './results.js';

const WIDTH = 900;
const MARGIN = 16;
/** Right edge of the scenario labels; bars start a little after it. */
const LABEL_RIGHT = 336;
const PLOT_LEFT = 346;
/** Room right of the longest bar for its printed value. */
const PLOT_RIGHT = WIDTH - 70;
const PLOT_WIDTH = PLOT_RIGHT - PLOT_LEFT;
/** ~12px sans-serif fits about this many characters between the left margin and LABEL_RIGHT. */
const MAX_LABEL_CHARS = 50;

const ROW_HEIGHT = 28;
const BAR_HEIGHT = 10;
const PANEL_TITLE_HEIGHT = 30;
const PANEL_AXIS_HEIGHT = 22;
const PANEL_GAP = 18;
const HEADER_HEIGHT = 104;
/** The comparisons under the panels: a title, then a line each. */
const NOTE_TITLE_HEIGHT = 26;
const NOTE_LINE_HEIGHT = 17;

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif';
const COLOURS = {
  subgraph: '#4e79a7',
  peer: '#59a14f',
  floor: '#9c9c9c',
  upstream: '#f28e2b',
  goal: '#c0392b',
  grid: '#e3e3e3',
  text: '#222',
  muted: '#666',
};

type Series = 'subgraph-cpu' | 'upstream-cpu' | 'subgraph-p99' | 'upstream-p99' | 'peer-cpu' | 'peer-p99' | 'floor-cpu' | 'floor-p99';

interface BarSpec {
  series: Series;
  colour: string;
  /** null: not measured, no bar and no value at all */
  value: (scenario: ScenarioResult) => number | null;
  /** The series and colour of this bar in a peer's row (the value is the peer's own) */
  peer?: { series: Series; colour: string };
  /** The same in a floor's row (bench/floor.ts) */
  floor?: { series: Series; colour: string };
}

interface PanelSpec {
  title: string;
  decimals: number;
  bars: [BarSpec, BarSpec];
  goal?: { value: number; label: string };
}

interface Scale {
  max: number;
  step: number;
}

export function renderPlot(results: BenchResults): string {
  const panels = panelsOf(results);
  const panelHeight = heightOfPanel(results.scenarios.length);
  const panelsBottom = HEADER_HEIGHT + panels.length * panelHeight + (panels.length - 1) * PANEL_GAP;
  const comparisons = results.comparisons ?? [];
  const notesHeight = comparisons.length === 0 ? 0 : NOTE_TITLE_HEIGHT + comparisons.length * NOTE_LINE_HEIGHT;
  const height = panelsBottom + notesHeight + MARGIN;
  const body = [
    header(results),
    legend(
      results.scenarios.some((s) => s.target === 'peer'),
      results.scenarios.some((s) => s.target === 'floor'),
    ),
    ...panels.map((panel, i) => renderPanel(panel, results.scenarios, HEADER_HEIGHT + i * (panelHeight + PANEL_GAP))),
    comparisons.length === 0 ? '' : notes(comparisons, panelsBottom),
  ].filter((part) => part !== '');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family=${attr(FONT)} fill="${COLOURS.text}" role="img">`,
    // Read aloud in place of the picture (and what a README shows while it loads).
    `<title>${escapeXml(`CPU per operation and p99 latency per scenario, subgraph${results.scenarios.some((s) => s.target === 'peer') ? ' and peer' : ''} against upstream: ${results.machine.cpuModel}, ${results.machine.cores} cores`)}</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function panelsOf(results: BenchResults): PanelSpec[] {
  const goal = results.goals.cpuMsPerHundredUserOp;
  return [
    {
      title: 'CPU per operation (ms)',
      decimals: 2,
      bars: [
        {
          series: 'subgraph-cpu',
          colour: COLOURS.subgraph,
          value: (s) => s.subgraphCpuMsPerOp,
          peer: { series: 'peer-cpu', colour: COLOURS.peer },
          floor: { series: 'floor-cpu', colour: COLOURS.floor },
        },
        { series: 'upstream-cpu', colour: COLOURS.upstream, value: (s) => s.upstreamCpuMsPerOp },
      ],
      goal: { value: goal, label: `goal ${goal} ms (100 users)` },
    },
    {
      title: 'p99 latency (ms)',
      decimals: 1,
      bars: [
        {
          series: 'subgraph-p99',
          colour: COLOURS.subgraph,
          value: (s) => s.p99Ms,
          peer: { series: 'peer-p99', colour: COLOURS.peer },
          floor: { series: 'floor-p99', colour: COLOURS.floor },
        },
        { series: 'upstream-p99', colour: COLOURS.upstream, value: (s) => s.upstreamP99Ms },
      ],
    },
  ];
}

function heightOfPanel(rows: number): number {
  return PANEL_TITLE_HEIGHT + rows * ROW_HEIGHT + PANEL_AXIS_HEIGHT;
}

function header(results: BenchResults): string {
  const { machine, settings } = results;
  const title = `users-subgraph cold path — ${formatDate(results.date)} — ${results.commit.slice(0, 7)}`;
  const machineLine = `${machine.cpuModel} · ${machine.cores} cores · ${machine.memoryGiB} GiB · Node ${machine.node}`;
  const settingsLine =
    `${settings.clients} clients · ${settings.seconds} s per scenario · load: ${settings.loadGenerator}` +
    ` · emulator: ${settings.emulatorMode}`;
  return [
    text(MARGIN, 28, title, { 'font-size': 17, 'font-weight': 'bold' }),
    text(MARGIN, 50, machineLine, { 'font-size': 12, fill: COLOURS.muted }),
    text(MARGIN, 66, settingsLine, { 'font-size': 12, fill: COLOURS.muted }),
  ].join('\n');
}

/** An ISO timestamp reads better trimmed to the minute; anything else is shown as given. */
function formatDate(date: string): string {
  const time = Date.parse(date);
  if (!Number.isFinite(time)) return date;
  return new Date(time).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

function legend(withPeer: boolean, withFloor: boolean): string {
  const y = 86;
  const swatch = (x: number, colour: string, label: string) =>
    `<rect x="${x}" y="${y - 9}" width="12" height="${BAR_HEIGHT}" fill="${colour}"/>\n` + text(x + 17, y, label, { 'font-size': 12 });
  const goalX = 420;
  return [
    '<g data-role="legend">',
    swatch(MARGIN, COLOURS.subgraph, 'subgraph'),
    swatch(110, COLOURS.upstream, 'upstream emulator (raw requests for p99)'),
    `<line x1="${goalX}" y1="${y - 4}" x2="${goalX + 18}" y2="${y - 4}" stroke="${COLOURS.goal}" stroke-width="2" stroke-dasharray="4 3"/>`,
    text(goalX + 23, y, 'goal', { 'font-size': 12 }),
    withPeer ? swatch(500, COLOURS.peer, 'peer: Hive Gateway + Mesh') : '',
    withFloor ? swatch(700, COLOURS.floor, 'floor: least Node can do') : '',
    '</g>',
  ]
    .filter((part) => part !== '')
    .join('\n');
}

/** Under the panels: per size, each process's CPU per operation over the upstream's own, and RSS. */
function notes(comparisons: Comparison[], top: number): string {
  const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)}×` : 'n/a');
  const y = top + NOTE_TITLE_HEIGHT - 6;
  return [
    '<g data-role="comparisons">',
    text(MARGIN, y, 'Subgraph against peer and floor: CPU per operation over the upstream’s own in the same phase, and RSS', {
      'font-size': 14,
      'font-weight': 'bold',
    }),
    ...comparisons.map((c, i) =>
      text(
        MARGIN,
        y + (i + 1) * NOTE_LINE_HEIGHT,
        `${c.size}: subgraph (cache ${c.subgraphCache}) ${x(c.subgraphOverUpstream)}, peer ${x(c.peerOverUpstream)}, ` +
          `peer ÷ subgraph ${x(c.peerOverSubgraph)}` +
          (c.floorOverUpstream === undefined ? '' : `, floor ${x(c.floorOverUpstream)}`) +
          `; RSS ${Math.round(c.subgraphRssMiB)} MiB against ${Math.round(c.peerRssMiB)} MiB` +
          (c.floorRssMiB === undefined ? '' : ` (floor ${Math.round(c.floorRssMiB)})`),
        { 'font-size': 12 },
      ),
    ),
    '</g>',
  ].join('\n');
}

function renderPanel(panel: PanelSpec, scenarios: ScenarioResult[], top: number): string {
  const plotTop = top + PANEL_TITLE_HEIGHT;
  const plotBottom = plotTop + scenarios.length * ROW_HEIGHT;
  const scale = scaleOf(panel, scenarios);
  return [
    `<g data-panel=${attr(panel.title)}>`,
    text(MARGIN, top + 18, panel.title, { 'font-size': 14, 'font-weight': 'bold' }),
    gridlines(scale, plotTop, plotBottom),
    ...scenarios.map((scenario, row) => renderRow(panel, scenario, scale, plotTop + row * ROW_HEIGHT)),
    panel.goal ? goalLine(panel.goal, scale, plotTop, plotBottom) : '',
    '</g>',
  ]
    .filter((part) => part !== '')
    .join('\n');
}

/** The goal belongs inside the axis, or the line would fall off the panel. */
function scaleOf(panel: PanelSpec, scenarios: ScenarioResult[]): Scale {
  const values = scenarios.flatMap((s) => panel.bars.map((bar) => bar.value(s)));
  if (panel.goal) values.push(panel.goal.value);
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return niceScale(Math.max(0, ...finite));
}

/** A round axis maximum with 3–5 round steps (1, 2, 2.5 or 5 times a power of ten). */
function niceScale(max: number): Scale {
  if (!(max > 0)) return { max: 1, step: 0.25 };
  const rough = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / magnitude;
  const step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10) * magnitude;
  // The epsilon keeps a maximum that is already round (e.g. 2.0000000001 from float noise) on its own step.
  return { max: Math.ceil(max / step - 1e-9) * step, step };
}

function xOf(value: number, scale: Scale): number {
  return PLOT_LEFT + (Math.max(0, value) / scale.max) * PLOT_WIDTH;
}

function gridlines(scale: Scale, plotTop: number, plotBottom: number): string {
  const steps = Math.round(scale.max / scale.step);
  const parts: string[] = [];
  for (let i = 0; i <= steps; i++) {
    const tick = i * scale.step;
    const x = xOf(tick, scale);
    parts.push(`<line x1="${num(x)}" y1="${plotTop}" x2="${num(x)}" y2="${plotBottom}" stroke="${COLOURS.grid}"/>`);
    parts.push(
      text(x, plotBottom + 14, formatTick(tick), { 'font-size': 10, fill: COLOURS.muted, 'text-anchor': 'middle', 'data-role': 'tick' }),
    );
  }
  return parts.join('\n');
}

/** Ticks are multiples of a float step; toPrecision drops the 0.30000000000000004 noise. */
function formatTick(tick: number): string {
  return String(Number(tick.toPrecision(6)));
}

function renderRow(panel: PanelSpec, scenario: ScenarioResult, scale: Scale, rowTop: number): string {
  const label = scenario.path === 'warm' ? `${scenario.label} (cache on)` : scenario.label;
  const parts = [rowLabel(label, rowTop + ROW_HEIGHT / 2 + 4)];
  panel.bars.forEach((spec, i) => {
    const own = scenario.target === 'peer' ? spec.peer : scenario.target === 'floor' ? spec.floor : undefined;
    const bar = own === undefined ? spec : { ...spec, ...own };
    const value = bar.value(scenario);
    if (value === null) return;
    parts.push(renderBar(bar, scenario, value, scale, rowTop + 3 + i * (BAR_HEIGHT + 2), panel.decimals));
  });
  return parts.join('\n');
}

/** Long labels are cut to fit the label column; the full one stays in a tooltip. */
function rowLabel(label: string, y: number): string {
  const shown = label.length > MAX_LABEL_CHARS ? label.slice(0, MAX_LABEL_CHARS - 1) + '…' : label;
  const tooltip = shown === label ? '' : `<title>${escapeXml(label)}</title>`;
  return `<text x="${LABEL_RIGHT}" y="${num(y)}" font-size="12" text-anchor="end" data-role="label">${tooltip}${escapeXml(shown)}</text>`;
}

function renderBar(bar: BarSpec, scenario: ScenarioResult, value: number, scale: Scale, y: number, decimals: number): string {
  const marks = { 'data-series': bar.series, 'data-scenario': scenario.name, 'data-path': scenario.path };
  const textY = y + BAR_HEIGHT - 1;
  // NaN (or ±Infinity) means the measurement failed; a bar of any length would be a lie.
  if (!Number.isFinite(value)) {
    return text(PLOT_LEFT + 4, textY, 'n/a', { 'font-size': 10, fill: COLOURS.muted, 'data-role': 'value', ...marks });
  }
  const end = xOf(value, scale);
  return [
    `<rect x="${PLOT_LEFT}" y="${num(y)}" width="${num(end - PLOT_LEFT)}" height="${BAR_HEIGHT}" fill="${bar.colour}"${attrs(marks)}/>`,
    text(end + 4, textY, value.toFixed(decimals), { 'font-size': 10, 'data-role': 'value', ...marks }),
  ].join('\n');
}

function goalLine(goal: { value: number; label: string }, scale: Scale, plotTop: number, plotBottom: number): string {
  if (!Number.isFinite(goal.value)) return '';
  const x = Number(num(xOf(goal.value, scale)));
  return [
    `<line x1="${x}" y1="${plotTop - 4}" x2="${x}" y2="${plotBottom}" stroke="${COLOURS.goal}" stroke-width="1.5" stroke-dasharray="5 4" data-role="goal"/>`,
    // Near the right edge the label would run off the image; put it on the line's left instead.
    x > WIDTH - 150
      ? text(x - 4, plotTop - 6, goal.label, { 'font-size': 11, fill: COLOURS.goal, 'text-anchor': 'end' })
      : text(x + 4, plotTop - 6, goal.label, { 'font-size': 11, fill: COLOURS.goal }),
  ].join('\n');
}

function text(x: number, y: number, content: string, attributes: Record<string, string | number>): string {
  return `<text x="${num(x)}" y="${num(y)}"${attrs(attributes)}>${escapeXml(content)}</text>`;
}

function attrs(attributes: Record<string, string | number>): string {
  return Object.entries(attributes)
    .map(([name, value]) => ` ${name}=${attr(String(value))}`)
    .join('');
}

function attr(value: string): string {
  return `"${escapeXml(value)}"`;
}

/** Two decimals are finer than a pixel and keep the file small. */
function num(value: number): string {
  return String(Math.round(value * 100) / 100);
}

function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => XML_ENTITIES[c]!);
}

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
