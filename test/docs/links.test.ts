import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchorsOf, docFiles, filesUnder, headingsOf, headingText, proseOf, readDoc, root, slugOf } from './markdown.js';

/**
 * Every cross-reference resolves. In README.md and docs/, every relative Markdown link names a file or
 * folder that exists, and every `#anchor` is a heading of its target as GitHub slugs it. In schema/,
 * src/, test/, docs/ and the README, every textual reference to a doc (a parenthesis holding the file,
 * a comma and a quoted heading, the form code comments use) names a heading that file has.
 */

/** The repository as the checks read it: a file's text, '' for a folder, undefined for nothing there. */
interface Tree {
  read(path: string): string | undefined;
}

const disk: Tree = {
  read(path) {
    const absolute = join(root, path);
    if (!existsSync(absolute)) return undefined;
    return statSync(absolute).isDirectory() ? '' : readFileSync(absolute, 'utf8');
  },
};

const INLINE_LINK = /!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g;
const LINK_DEFINITION = /^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/;

/** The relative links of one Markdown file that do not resolve, as `file:line: message`. */
function linkProblems(file: string, markdown: string, tree: Tree): string[] {
  const problems: string[] = [];
  proseOf(markdown)
    .split('\n')
    .forEach((text, index) => {
      const targets = [...text.matchAll(INLINE_LINK)].map((match) => match[1]!);
      const definition = LINK_DEFINITION.exec(text)?.[1];
      if (definition !== undefined) targets.push(definition);
      for (const target of targets) {
        const problem = targetProblem(file, target, tree);
        if (problem !== undefined) problems.push(`${file}:${index + 1}: (${target}) ${problem}`);
      }
    });
  return problems;
}

function targetProblem(file: string, target: string, tree: Tree): string | undefined {
  // Absolute: a scheme (https:, mailto:) or a protocol-relative URL. Not this test's to fetch.
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) return undefined;
  if (target === '') return 'is an empty link';
  const hash = target.indexOf('#');
  const pathPart = hash < 0 ? target : target.slice(0, hash);
  const anchor = hash < 0 ? undefined : target.slice(hash + 1);
  const path = pathPart === '' ? file : normalize(join(dirname(file), decodeURIComponent(pathPart)));
  if (path.startsWith('..')) return 'points outside the repository';
  const text = tree.read(path);
  if (text === undefined) return `names ${path}, which does not exist`;
  if (anchor === undefined || !path.endsWith('.md')) return undefined;
  if (anchor === '') return 'has an empty anchor';
  return anchorsOf(text).has(decodeURIComponent(anchor)) ? undefined : `names #${anchor}, which no heading of ${path} has`;
}

const REFERENCE = /\((README(?:\.md)?|docs\/[\w./-]+?\.md)[,:]\s+("[^"]+"(?:\s*,\s*"[^"]+")*)/g;

/** A quoted heading as written in a comment, which may wrap: line breaks and comment markers become one space. */
function unwrap(heading: string): string {
  return heading.replace(/\s*\n\s*(?:\*(?!\/)|\/\/|#)?\s*/g, ' ').trim();
}

/** The textual references of one file whose heading is not one of the named doc's, as `file:line: message`. */
function referenceProblems(file: string, text: string, tree: Tree): string[] {
  const problems: string[] = [];
  for (const match of text.matchAll(REFERENCE)) {
    const doc = match[1] === 'README' ? 'README.md' : match[1]!;
    const line = text.slice(0, match.index).split('\n').length;
    const target = tree.read(doc);
    if (target === undefined || target === '') {
      problems.push(`${file}:${line}: ${match[0]}) names ${doc}, which does not exist`);
      continue;
    }
    const headings = new Set(headingsOf(target));
    for (const [, quoted] of match[2]!.matchAll(/"([^"]+)"/g)) {
      const heading = headingText(unwrap(quoted!));
      if (!headings.has(heading)) problems.push(`${file}:${line}: "${heading}" is not a heading of ${doc}`);
    }
  }
  return problems;
}

/** Where textual references are looked for: the schema, the code, the tests and the docs. */
function referringFiles(): string[] {
  const under = (folder: string, extensions: RegExp) =>
    filesUnder(join(root, folder), (name) => extensions.test(name)).map((path) => relative(root, path));
  return [...under('schema', /\.graphql$/), ...under('src', /\.ts$/), ...under('test', /\.ts$/), ...docFiles()];
}

describe('links in README.md and docs/', () => {
  it('name files that exist, and anchors their headings have', () => {
    const problems = docFiles().flatMap((file) => linkProblems(file, readDoc(file), disk));
    expect(problems).toEqual([]);
  });
});

describe('textual references to the docs', () => {
  it('in schema/, src/, test/, docs/ and the README name headings that exist', () => {
    const problems = referringFiles().flatMap((file) => referenceProblems(file, readFileSync(join(root, file), 'utf8'), disk));
    expect(problems).toEqual([]);
  });
});

describe('the checks themselves', () => {
  const tree: Tree = {
    read: (path) =>
      ({
        'docs/a.md': '# A\n\n## Real heading\n\n## `CODE_NAME` and more\n\n## Real heading\n',
        'docs/b.md': '# B\n',
        examples: '',
      })[path],
  };

  it('slug headings as GitHub does', () => {
    expect(slugOf('Redis: one cache and one budget for every replica')).toBe('redis-one-cache-and-one-budget-for-every-replica');
    expect(slugOf(headingText('Choosing `UPSTREAM_MAX_HOLD_MS`'))).toBe('choosing-upstream_max_hold_ms');
    expect(slugOf('@apollo/gateway')).toBe('apollogateway');
    expect(slugOf("When the upstream refuses a caller's token")).toBe('when-the-upstream-refuses-a-callers-token');
    expect([...anchorsOf(tree.read('docs/a.md')!)]).toEqual(['a', 'real-heading', 'code_name-and-more', 'real-heading-1']);
  });

  it('catch a link to a missing file and an anchor no heading has, and nothing else', () => {
    const doc = [
      '# B',
      '[fine](a.md#real-heading) [also](a.md#real-heading-1) [folder](../examples) [self](#b) [web](https://example.com/x#y)',
      '[gone](missing.md)',
      'text [bad anchor](a.md#no-such-heading)',
      '`[in code](missing.md)`',
      '```sh',
      '[in a block](missing.md)',
      '```',
    ].join('\n');
    expect(linkProblems('docs/b.md', doc, tree)).toEqual([
      'docs/b.md:3: (missing.md) names docs/missing.md, which does not exist',
      'docs/b.md:4: (a.md#no-such-heading) names #no-such-heading, which no heading of docs/a.md has',
    ]);
  });

  it('catch a reference to a heading its doc does not have, or to a doc that does not exist', () => {
    const open = '(';
    const comment = [
      `// ${open}docs/a.md, "Real heading") is fine, and so is ${open}docs/a.md, "CODE_NAME and`,
      `//   more"); ${open}docs/a.md, "Imaginary") is not, nor ${open}docs/c.md, "A").`,
    ].join('\n');
    expect(referenceProblems('src/x.ts', comment, tree)).toEqual([
      'src/x.ts:2: "Imaginary" is not a heading of docs/a.md',
      `src/x.ts:2: ${open}docs/c.md, "A") names docs/c.md, which does not exist`,
    ]);
  });
});
