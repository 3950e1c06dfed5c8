/**
 * docs/configuration.md, written from the zod schemas the server validates its environment with
 * (`configurationVariables` in src/config.ts), so the reference cannot drift from what is read: every
 * variable, its default (what the schema gives for an unset variable) and its description (the
 * schema's `.describe()`). A variable without a description fails the generation.
 *
 *   npm run docs:config            rewrites docs/configuration.md
 *   npm run docs:config -- --check exits 1 when it is out of date (npm test runs the same check)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { configurationVariables } from '../src/config.js';
import { providers } from '../src/providers/registry.js';

export const REFERENCE_PATH = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

const INTRODUCTION = `# Configuration reference

Every environment variable the server reads, by group: its default and what it does. This file is written by
\`npm run docs:config\` from the zod schemas the server validates its environment with (\`src/config.ts\`
and each provider's \`config.ts\`), and \`npm test\` fails when it is out of date: edit the schemas'
descriptions, not this file.

How the variables are read:

- A bad value stops the start with exit code 78 and a message naming the variable, never its value.
- An empty value means unset, except for credentials: a credential set but empty or blank is refused.
- Under \`NODE_ENV=production\` (the container image sets it) a start with no provider configured is refused
  unless \`DEMO=1\`; outside production it runs the embedded demo.
- A variable with this service's prefixes (\`X_\`, \`TELEGRAM_\`, \`BITRIX24_\`, \`NEXUDUS_\`, \`AUTH_\`,
  \`CACHE_\`, \`REDIS_\`) that nothing reads is reported at start, with the name it most likely meant.
- Tracing is configured by the standard \`OTEL_*\` variables ([operations](operations.md)).
`;

/** The default of a variable as a reader writes it: what its schema gives when it is unset. */
function defaultOf(schema: z.ZodType): string {
  const parsed = schema.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return 'unset';
  const value = parsed.data;
  if (typeof value === 'boolean') return `\`${value ? 1 : 0}\``;
  if (typeof value === 'number' || typeof value === 'string') return `\`${value}\``;
  return 'unset';
}

/** Table cells hold one line, and `|` only escaped. */
const cell = (text: string) => text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');

export function configurationReference(): string {
  const sections = configurationVariables(providers).map(({ group, variables }) => {
    const rows = variables.map(([name, schema]) => {
      if (!schema.description) throw new Error(`${name} has no description: add .describe() to its schema`);
      return `| \`${name}\` | ${defaultOf(schema)} | ${cell(schema.description)} |`;
    });
    return [`## ${group}`, '', '| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
  });
  return `${[INTRODUCTION.trimEnd(), ...sections].join('\n\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = configurationReference();
  if (process.argv.includes('--check')) {
    const current = readFileSync(REFERENCE_PATH, 'utf8');
    if (current !== text) {
      process.stderr.write('docs/configuration.md is out of date: run npm run docs:config\n');
      process.exit(1);
    }
  } else {
    writeFileSync(REFERENCE_PATH, text);
  }
}
