import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { type GraphQLSchema, parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { knownVariables, loadConfig } from '../../src/config.js';
import { providers } from '../../src/providers/registry.js';
import { buildSchema } from '../../src/schema.js';
import { type SubgraphProcess, startSubgraphProcess } from '../support/subgraph-process.js';
import { docFiles, type Fence, fencesOf, readDoc, root } from './markdown.js';

/**
 * Every fenced block of README.md and docs/ is checked by its info string, so that no command or snippet
 * a reader copies is wrong:
 *
 * - `sh`: `curl` lines run with bash against the embedded demo started here (with CACHE_ADMIN_TOKEN, so
 *   that the eviction example evicts), `localhost:4001` pointed at it: exit status 0, and JSON without
 *   errors unless the block is marked. `npm` must name a script of package.json, `npx` an installed
 *   binary, and `VAR=value` prefixes variables of the configuration. Anything else must be in ALLOWED.
 * - `graphql`: validated against the schema, and run against the demo: no errors unless marked.
 * - `ts`: type-checked with the project's TypeScript against the pinned packages, each block in a folder
 *   of its own under test/docs/ with a copy of the generated client kits (src/generated/client/).
 * - `json` and `yaml` parse; `env` names only variables of the configuration, which accepts the values.
 * - `text` and `console` are shown to the reader, not run.
 *
 * A block preceded by `<!-- expect-errors -->` must answer errors. A block without an info string, or
 * with another one, fails. docs/configuration.md and the picture in docs/architecture.md are generated
 * and checked by what generates them.
 */

const run = promisify(execFile);

/** Commands the test cannot run or check here, each with the reason. Keep this list short. */
const ALLOWED: Record<string, string> = {
  docker: 'builds and runs the container image: the test run has no Docker daemon',
  rover: 'the rover binary is not an npm package; publish and check need a GraphOS key',
  router: 'Apollo Router is a binary of its own, not an npm package',
};

/** Variables a doc may set that no configuration schema reads, and for which commands. */
const EXTRA_VARIABLES: Array<{ name: RegExp; command: RegExp; reason: string }> = [
  { name: /^NODE_ENV$/, command: /(?:)/, reason: 'production or not: read by the configuration as a whole, not one setting' },
  { name: /^OTEL_/, command: /(?:)/, reason: "OpenTelemetry's own variables, read by its exporter (src/telemetry/tracing.ts)" },
  { name: /^BENCH_/, command: /^npm run bench/, reason: "the benchmarks' own settings" },
  { name: /^SOAK_/, command: /^npm run soak$/, reason: "the soak's own settings" },
];

const KINDS = ['sh', 'graphql', 'ts', 'typescript', 'json', 'yaml', 'yml', 'env', 'dotenv', 'text', 'console'];
const EXPECT_ERRORS = '<!-- expect-errors -->';
const ADMIN_TOKEN = 'docs-cache-admin-token-0123456789';
/** Generated docs: checked by what generates them. */
const GENERATED_DOCS = new Set(['docs/configuration.md']);
/** docs/architecture.md's picture of the layers, between these lines: written and checked by `npm run deps:graph`. */
const GENERATED_REGION = ['<!-- the graph:', '<!-- end of the graph -->'] as const;

interface Block extends Fence {
  file: string;
}

function blocksOf(file: string): Block[] {
  let text = readDoc(file);
  const start = text.indexOf(GENERATED_REGION[0]);
  const end = text.indexOf(GENERATED_REGION[1]);
  if (start >= 0 && end > start) text = text.slice(0, start) + text.slice(start, end).replace(/[^\n]/g, '') + text.slice(end);
  return fencesOf(text).map((fence) => ({ ...fence, file }));
}

const files = docFiles().filter((file) => !GENERATED_DOCS.has(file));
const blocks = files.flatMap(blocksOf);
const at = (block: Block, offset = 0) => `${block.file}:${block.line + offset}`;
const ofKind = (...kinds: string[]) => blocks.filter((block) => kinds.includes(block.info));
const expectsErrors = (block: Block) => block.before === EXPECT_ERRORS;
const filesWith = (kinds: string[]) => files.filter((file) => ofKind(...kinds).some((block) => block.file === file));

/* ------------------------------------------------------------------------------------------------ */
/* Shell                                                                                              */

/** Shell words, quotes taken off, with `&&`, `||`, `;`, `|` and `>` as words of their own; a `#` word ends the line. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let started = false;
  let quote: string | undefined;
  const end = () => {
    if (started) words.push(word);
    word = '';
    started = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      started = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      started = true;
    } else if (/\s/.test(c)) {
      end();
    } else if (c === '#' && !started) {
      break;
    } else {
      const operator = /^(&&|\|\||[;|>])/.exec(line.slice(i))?.[1];
      if (operator === undefined) {
        word += c;
        started = true;
      } else {
        end();
        words.push(operator);
        i += operator.length - 1;
      }
    }
  }
  end();
  return words;
}

/** A block's command lines: `\` continuations joined, blank and comment lines left out. */
function commandLines(body: string): string[] {
  return body
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** The commands of a line (split at `&&`, `||` and `;`), each up to its first pipe or redirection. */
function commandsOf(words: string[]): string[][] {
  const commands: string[][] = [[]];
  for (const word of words) {
    if (word === '&&' || word === '||' || word === ';') commands.push([]);
    else commands.at(-1)!.push(word);
  }
  return commands
    .map((command) => {
      const stop = command.findIndex((word) => word === '|' || word === '>');
      return stop < 0 ? command : command.slice(0, stop);
    })
    .filter((command) => command.length > 0);
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/;
const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const known = knownVariables(providers);

/** What is wrong with variables a command sets: each must be the configuration's, or allowed for that command. */
function variableProblems(names: string[], command: string): string[] {
  return names
    .filter((name) => !known.has(name) && !EXTRA_VARIABLES.some((extra) => extra.name.test(name) && extra.command.test(command)))
    .map((name) => `${name} is not a variable of the configuration (knownVariables)`);
}

/** What is wrong with one command that is not run: a script, a binary, an allowed command. */
function commandProblems(words: string[]): string[] {
  const assigned: string[] = [];
  let rest = words;
  while (rest.length > 0 && ASSIGNMENT.test(rest[0]!)) {
    assigned.push(ASSIGNMENT.exec(rest[0]!)![1]!);
    rest = rest.slice(1);
  }
  if (rest[0] === 'export') {
    const names = rest.slice(1).map((word) => ASSIGNMENT.exec(word)?.[1] ?? word);
    return variableProblems([...assigned, ...names], 'export');
  }
  const command = rest.join(' ');
  const problems = variableProblems(assigned, command);
  const [name, sub, script] = rest;
  if (name === undefined) return problems;
  if (name === 'npm') {
    if (sub === 'ci') return problems;
    const wanted = sub === 'run' ? script : sub;
    if (wanted === undefined || scripts[wanted] === undefined) problems.push(`npm ${sub} ${script ?? ''}: no such script in package.json`);
  } else if (name === 'npx') {
    if (sub === undefined || !existsSync(join(root, 'node_modules/.bin', sub))) problems.push(`npx ${sub}: not installed`);
  } else if (name === 'docker') {
    // What a container is given must be variables of the configuration too: `-e NAME` or `-e NAME=value`.
    const given = rest.flatMap((word, i) => (rest[i - 1] === '-e' ? [word.split('=')[0]!] : []));
    problems.push(...variableProblems(given, command));
  } else if (name === 'curl') {
    problems.push('curl runs only as the first command of its line');
  } else if (ALLOWED[name] === undefined) {
    problems.push(`${name} is neither run nor checked here: run it, or add it to ALLOWED with the reason`);
  }
  return problems;
}

/* ------------------------------------------------------------------------------------------------ */
/* The demo the curl lines and GraphQL blocks run against                                            */

let server: SubgraphProcess | undefined;
let schema: GraphQLSchema;

beforeAll(async () => {
  schema = buildSchema(providers);
  if (ofKind('sh', 'graphql').length > 0) server = await startSubgraphProcess({ DEMO: '1', CACHE_ADMIN_TOKEN: ADMIN_TOKEN });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

interface GraphQLAnswer {
  data?: unknown;
  errors?: Array<{ message: string }>;
  evicted?: number;
}

/** What is wrong with a GraphQL answer, given whether its block expects errors. */
function answerProblems(answer: GraphQLAnswer, block: Block): string[] {
  const errors = answer.errors ?? [];
  if (errors.length > 0 && !expectsErrors(block)) return [`answered errors: ${errors.map((e) => e.message).join('; ')}`];
  if (errors.length === 0 && expectsErrors(block)) return [`is marked ${EXPECT_ERRORS} but answered none`];
  return [];
}

async function curlProblems(line: string, block: Block): Promise<string[]> {
  const address = server!.url.replace(/^http:\/\//, '');
  const command = line.replaceAll('localhost:4001', address).replace(/^curl\b/, 'curl --fail-with-body --max-time 20');
  let stdout: string;
  try {
    ({ stdout } = await run('bash', ['-o', 'pipefail', '-c', command], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', CACHE_ADMIN_TOKEN: ADMIN_TOKEN },
      timeout: 30_000,
    }));
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return [`exited ${failed.code}: ${`${failed.stderr ?? ''}${failed.stdout ?? ''}`.trim().slice(0, 500)}`];
  }
  if (shellWords(line).includes('|')) return stdout.trim() === '' ? ['printed nothing'] : [];
  let answer: GraphQLAnswer;
  try {
    answer = JSON.parse(stdout) as GraphQLAnswer;
  } catch {
    return [`printed something that is not JSON: ${stdout.slice(0, 200)}`];
  }
  const problems = answerProblems(answer, block);
  if (line.includes('/cache/evict') && !(Number(answer.evicted) > 0)) problems.push(`evicted nothing: ${stdout}`);
  return problems;
}

/* ------------------------------------------------------------------------------------------------ */

describe('fenced blocks in README.md and docs/', () => {
  it('each have an info string this test checks', () => {
    const unknown = blocks.filter((block) => !KINDS.includes(block.info)).map((block) => `${at(block)}: ${block.info || '(none)'}`);
    expect(unknown).toEqual([]);
    expect(blocks.filter((block) => block.before === EXPECT_ERRORS && !['sh', 'graphql'].includes(block.info)).map((b) => at(b))).toEqual(
      [],
    );
  });
});

describe('sh blocks', () => {
  it.each(filesWith(['sh']))('%s: commands run, or name scripts, binaries and variables that exist', async (file) => {
    const problems: string[] = [];
    for (const block of ofKind('sh').filter((b) => b.file === file)) {
      for (const line of commandLines(block.body)) {
        const commands = commandsOf(shellWords(line));
        const found =
          commands[0]?.[0] === 'curl'
            ? [...(await curlProblems(line, block)), ...commands.slice(1).flatMap(commandProblems)]
            : commands.flatMap(commandProblems);
        problems.push(...found.map((problem) => `${at(block)}: ${line.slice(0, 80)}: ${problem}`));
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('graphql blocks', () => {
  it.each(filesWith(['graphql']))('%s: operations are valid and answer as marked', async (file) => {
    const problems: string[] = [];
    for (const block of ofKind('graphql').filter((b) => b.file === file)) {
      let errors: readonly Error[];
      try {
        errors = validate(schema, parse(block.body));
      } catch (error) {
        errors = [error as Error];
      }
      if (errors.length > 0) {
        problems.push(...errors.map((error) => `${at(block)}: ${error.message}`));
        continue;
      }
      const { status, body } = await server!.gql(block.body);
      if (status !== 200) problems.push(`${at(block)}: HTTP ${status}`);
      problems.push(...answerProblems(body as GraphQLAnswer, block).map((problem) => `${at(block)}: ${problem}`));
    }
    expect(problems).toEqual([]);
  });
});

describe('ts blocks', () => {
  it('type-check against the pinned packages', { timeout: 180_000 }, async () => {
    const snippets = ofKind('ts', 'typescript');
    if (snippets.length === 0) return;
    const dir = mkdtempSync(join(root, 'test/docs/.snippets-tmp-'));
    try {
      const kit = join(root, 'src/generated/client');
      snippets.forEach((block, index) => {
        const folder = join(dir, String(index));
        mkdirSync(folder);
        // The client kits sit beside the snippet, as the docs tell a client to copy them.
        for (const name of readdirSync(kit)) copyFileSync(join(kit, name), join(folder, name));
        writeFileSync(join(folder, 'snippet.ts'), `${block.body}\n`);
      });
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          extends: '../../../tsconfig.json',
          // A client or a gateway as the docs show it: an ES module resolved as a bundler resolves it.
          compilerOptions: { module: 'ESNext', moduleResolution: 'Bundler', noEmit: true },
          include: ['**/*.ts'],
        }),
      );
      let output = '';
      try {
        await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], {
          cwd: root,
          timeout: 170_000,
        });
      } catch (error) {
        output = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}` || String(error);
      }
      const problems = output
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => {
          const found = /^(.+?)\((\d+),\d+\): (.*)$/.exec(line);
          const snippet = found && /(\d+)[/\\]snippet\.ts$/.exec(relative(dir, join(root, found[1]!)));
          return snippet ? `${at(snippets[Number(snippet[1])]!, Number(found![2]))}: ${found![3]}` : line;
        });
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('json, yaml and env blocks', () => {
  it('json blocks parse', () => {
    const problems = ofKind('json').flatMap((block) => {
      try {
        JSON.parse(block.body);
        return [];
      } catch (error) {
        return [`${at(block)}: ${(error as Error).message}`];
      }
    });
    expect(problems).toEqual([]);
  });

  it('yaml blocks parse', () => {
    const problems = ofKind('yaml', 'yml').flatMap((block) => parseDocument(block.body).errors.map((e) => `${at(block)}: ${e.message}`));
    expect(problems).toEqual([]);
  });

  it('env blocks name variables of the configuration, which accepts their values', () => {
    // A production start of X: what every block is added to.
    const minimal = { NODE_ENV: 'production', X_BEARER_TOKEN: 'docs-minimal-x-bearer-token' };
    const problems = ofKind('env', 'dotenv').flatMap((block) => {
      const vars: Record<string, string> = {};
      const found: string[] = [];
      for (const line of commandLines(block.body)) {
        const assignment = ASSIGNMENT.exec(line);
        if (assignment === null) found.push(`${line}: not VAR=value`);
        else vars[assignment[1]!] = assignment[2]!.replace(/^(['"])(.*)\1$/, '$2');
      }
      found.push(...variableProblems(Object.keys(vars), 'env'));
      try {
        const config = loadConfig(providers, { ...minimal, ...vars });
        found.push(...config.warnings);
      } catch (error) {
        found.push((error as Error).message);
      }
      return found.map((problem) => `${at(block)}: ${problem}`);
    });
    expect(problems).toEqual([]);
  });
});

describe('the checks themselves', () => {
  it('read shell lines as bash does, and refuse what they cannot vouch for', () => {
    expect(shellWords(`A=1 curl -s 'x y' -d "{\\"q\\":1}" | grep z # note`)).toEqual([
      'A=1',
      'curl',
      '-s',
      'x y',
      '-d',
      '{"q":1}',
      '|',
      'grep',
      'z',
    ]);
    expect(commandsOf(shellWords('npm ci && npm start > log'))).toEqual([
      ['npm', 'ci'],
      ['npm', 'start'],
    ]);
    expect(commandProblems(['PORT=4001', 'npm', 'start'])).toEqual([]);
    expect(commandProblems(['docker', 'build', '.'])).toEqual([]);
    expect(commandProblems(['npm', 'run', 'no-such-script'])).toHaveLength(1);
    expect(commandProblems(['NO_SUCH_VARIABLE=1', 'npm', 'start'])).toHaveLength(1);
    expect(commandProblems(['BENCH_SECONDS=1', 'npm', 'start'])).toHaveLength(1);
    expect(commandProblems(['make', 'all'])).toHaveLength(1);
  });
});
