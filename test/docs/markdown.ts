import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Reading the docs as GitHub renders them, for the docs' tests (links.test.ts, snippets.test.ts): which
 * files are docs, their fenced blocks, their headings and the anchors GitHub makes of them.
 */

/** The repository's root, with a trailing slash. */
export const root = fileURLToPath(new URL('../../', import.meta.url));

/** Every file under `dir` (absolute) whose name `keep` accepts; dot-folders, node_modules and dist are not entered. */
export function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(path, keep));
    else if (keep(entry.name)) found.push(path);
  }
  return found.sort();
}

/** README.md, CHANGELOG.md and every Markdown file under docs/ and examples/, as paths relative to the root (`docs/sharing.md`). */
export function docFiles(): string[] {
  const markdown = (name: string) => name.endsWith('.md');
  return [
    'README.md',
    'CHANGELOG.md',
    ...[...filesUnder(join(root, 'docs'), markdown), ...filesUnder(join(root, 'examples'), markdown)].map((path) => relative(root, path)),
  ];
}

export function readDoc(path: string): string {
  return readFileSync(join(root, path), 'utf8');
}

export interface Fence {
  /** The info string's first word (`sh`, `graphql`); empty for a block without one. */
  info: string;
  /** The block's lines, without the fences and without the indentation the opening fence had. */
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The last non-blank line before the opening fence (an HTML comment such as `<!-- expect-errors -->`). */
  before: string;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;

/** The fenced code blocks of a Markdown text, in order. */
export function fencesOf(markdown: string): Fence[] {
  const lines = markdown.split('\n');
  const fences: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (open === null) continue;
    const [, indent, marker, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = /^\s*(`{3,}|~{3,})\s*$/.exec(lines[j]!);
      if (close !== null && close[1]![0] === marker[0] && close[1]!.length >= marker.length) break;
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!.trimStart());
    }
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    fences.push({ info: info.toLowerCase(), body: body.join('\n'), line: i + 1, before: k >= 0 ? lines[k]!.trim() : '' });
    i = j;
  }
  return fences;
}

/** The text with every fenced block's lines blanked, so that line numbers are kept. */
export function withoutFences(markdown: string): string {
  let inside: string | undefined;
  return markdown
    .split('\n')
    .map((line) => {
      const fence = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
      if (inside === undefined) {
        if (fence === undefined) return line;
        inside = fence;
        return '';
      }
      if (fence !== undefined && fence[0] === inside[0] && fence.length >= inside.length && line.trim() === fence) inside = undefined;
      return '';
    })
    .join('\n');
}

/** The text with fenced blocks and inline code spans blanked: where links and references are read. */
export function proseOf(markdown: string): string {
  return withoutFences(markdown).replace(/(`+)(?:(?!\1)[^\n])*?\1/g, (span) => ' '.repeat(span.length));
}

/** A heading's text as GitHub renders it: links, images, code and emphasis markers gone. */
export function headingText(raw: string): string {
  return raw
    .replace(/\s+#+\s*$/, '')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/`/g, '')
    .replace(/(\*\*|__|\*)/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** GitHub's anchor for a heading's text (github-slugger): lower case, punctuation dropped, each space a hyphen. */
export function slugOf(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The ATX headings of a Markdown text (outside fenced blocks), as rendered text, in order. */
export function headingsOf(markdown: string): string[] {
  return withoutFences(markdown)
    .split('\n')
    .flatMap((line) => {
      const heading = /^ {0,3}#{1,6}\s+(.+)$/.exec(line);
      return heading === null ? [] : [headingText(heading[1]!)];
    });
}

/** Every anchor a Markdown text has: its headings' slugs (repeats numbered as GitHub numbers them) and `<a id>`s. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const heading of headingsOf(markdown)) {
    const slug = slugOf(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  for (const [, id] of proseOf(markdown).matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(id!);
  return anchors;
}
