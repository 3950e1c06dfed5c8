import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configurationReference, REFERENCE_PATH } from '../../scripts/configuration-reference.js';
import { type Config, configurationVariables, knownVariables, loadConfig } from '../../src/config.js';
import { providers } from '../../src/providers/registry.js';

/**
 * docs/configuration.md, held to the schemas it is written from: it is what `npm run docs:config` writes
 * now, it lists every variable the configuration reads, its defaults are what a start with nothing set
 * runs with, and the range a description states is the one its schema enforces.
 */
const doc = readFileSync(REFERENCE_PATH, 'utf8');

/** The table rows of the file: variable -> its Default cell. */
const rows = new Map([...doc.matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]+) \|/gm)].map((match) => [match[1]!, match[2]!.trim()]));

it('is what npm run docs:config writes', () => {
  expect(doc === configurationReference(), 'docs/configuration.md is out of date: run npm run docs:config').toBe(true);
});

it('has a row for every variable the configuration reads, and for nothing else', () => {
  const known = knownVariables(providers);
  expect([...known].filter((name) => !rows.has(name))).toEqual([]);
  expect([...rows.keys()].filter((name) => !known.has(name))).toEqual([]);
  // Read by the caller headers' schema too, only to keep clear of it: listed once, under Access control.
  expect(known.has('AUTH_SHARED_SECRET_HEADER')).toBe(true);
  expect([...doc.matchAll(/^\| `AUTH_SHARED_SECRET_HEADER` \|/gm)]).toHaveLength(1);
});

it('lists the groups in order, the providers last', () => {
  const groups = [...doc.matchAll(/^## (.+)$/gm)].map((match) => match[1]);
  expect(groups).toEqual([
    'Server',
    'Limits',
    'Sharing and Redis',
    'Record cache per provider',
    'Upstream calls',
    'Access control',
    'Per-caller credentials',
    ...providers.map((provider) => provider.id.label),
  ]);
});

describe('its defaults are what a start with nothing set runs with', () => {
  const config = loadConfig(providers, {});
  const cases: Array<[variable: string, documented: string, actual: (config: Config) => unknown]> = [
    ['PORT', '4001', (c) => c.port],
    ['HOST', '0.0.0.0', (c) => c.host],
    ['LOG_LEVEL', 'info', (c) => c.logLevel],
    ['GRAPHQL_EXECUTOR', 'compiled', (c) => c.executor],
    ['AUTH_DIRECTIVES_IN_SDL', '0', (c) => Number(c.accessDirectivesInSdl)],
    ['MAX_IDS_PER_OPERATION', '1000', (c) => c.limits.maxIdsPerProvider],
    ['OPERATION_TIMEOUT_MS', '10000', (c) => c.limits.timeoutMs],
    ['UPSTREAM_MAX_HOLD_MS', '2000', (c) => c.upstream.planner.maxHoldMs],
    ['UPSTREAM_MAX_ATTEMPTS', '3', (c) => c.upstream.retry.maxAttempts],
    ['CACHE_MAX_BYTES', String(64 * 1024 * 1024), (c) => c.sharing.maxBytes],
    ['CACHE_STALE_SECONDS', '3600', (c) => c.sharing.staleMs / 1000],
    ['X_CACHE', '1', (c) => Number(c.sharing.providers.get('x')?.enabled)],
    ['X_CACHE_TTL_SECONDS', '900', (c) => c.sharing.providers.get('x')!.ttlMs / 1000],
  ];
  it.each(cases)('%s is `%s`', (variable, documented, actual) => {
    expect(rows.get(variable)).toBe(`\`${documented}\``);
    expect(String(actual(config))).toBe(documented);
  });

  it('a variable whose default depends on other settings is given as unset, and its description says what unset means', () => {
    for (const variable of ['DEMO', 'INTROSPECTION', 'EXPLORER', 'AUTH_SHARED_SECRET_SCOPES', 'AUTH_PERSONAL_DATA']) {
      expect(rows.get(variable), variable).toBe('unset');
      expect(doc).toMatch(new RegExp(`^\\| \`${variable}\` \\| unset \\| .*Unset: `, 'm'));
    }
  });
});

describe('the range a description states is the one its schema enforces', () => {
  const variables = configurationVariables(providers).flatMap(({ variables }) => variables);
  /** Whole-number variables: those whose default is a number. */
  const numeric = variables.filter(([, schema]) => typeof schema.safeParse(undefined).data === 'number');

  it('there are whole-number variables to check', () => {
    expect(numeric.length).toBeGreaterThan(40);
  });

  it.each(numeric.map(([name, schema]) => [name, schema] as const))('%s', (name, schema) => {
    const range = /(\d[\d,]*)–(\d[\d,]*)/.exec(schema.description ?? '');
    expect(range, `${name}'s description states no range`).not.toBeNull();
    const [min, max] = [Number(range![1]!.replaceAll(',', '')), Number(range![2]!.replaceAll(',', ''))];
    expect(schema.safeParse(String(min)).success, `${name} accepts ${min}`).toBe(true);
    expect(schema.safeParse(String(max)).success, `${name} accepts ${max}`).toBe(true);
    if (min > 0) expect(schema.safeParse(String(min - 1)).success, `${name} refuses ${min - 1}`).toBe(false);
    expect(schema.safeParse(String(max + 1)).success, `${name} refuses ${max + 1}`).toBe(false);
  });
});
