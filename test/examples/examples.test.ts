import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { knownVariables, loadConfig } from '../../src/config.js';
import { providers } from '../../src/providers/registry.js';

/**
 * The deployment examples, as far as a machine without Docker, rover or a Router binary can check them:
 * each file parses; every variable docker-compose.yml and .env.example give the subgraph is one its
 * configuration reads (a misspelled one would be ignored, or only warned about); .env.example's values
 * start the subgraph as the image runs it; the replicas share one Redis and the gateway points at them;
 * router.yaml forwards the headers the subgraph reads, and supergraph.yaml composes from and routes to it.
 * (test/examples/gateway-scripts.test.ts runs the gateway examples; test/gateways/composition.test.ts
 * measures which gateways compose with each AUTH_DIRECTIVES_IN_SDL.)
 */

const read = (path: string) => readFileSync(new URL(`../../examples/${path}`, import.meta.url), 'utf8');

/** Variables the subgraph reads that are not its configuration's: the runtime's and the image's. */
const OUTSIDE_THE_CONFIG = /^(NODE_ENV|PORT|HOST|OTEL_[A-Z0-9_]+)$/;

const known = knownVariables(providers);

function unknown(names: Iterable<string>): string[] {
  return [...names].filter((name) => !known.has(name) && !OUTSIDE_THE_CONFIG.test(name));
}

interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; target?: string };
  env_file?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  deploy?: { replicas?: number };
  healthcheck?: { test?: string[] | string };
  depends_on?: Record<string, { condition?: string }>;
  command?: string[];
  volumes?: string[];
  ports?: string[];
}

/** A service's `environment:` as a map, whichever form it is written in. */
function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((line) => [line.split('=')[0]!, line.slice(line.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([name, value]) => [name, String(value ?? '')]));
}

describe('examples/docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
  const services = compose.services;
  /** The services that run the subgraph: built from the repository's Dockerfile's final stage. */
  const subgraphServices = Object.entries(services).filter(([, s]) => s.build?.context === '..' && s.build.target === undefined);

  it('parses: Redis, the subgraph (two replicas, its own Dockerfile) and a gateway', () => {
    expect(Object.keys(services).sort()).toEqual(['gateway', 'redis', 'users-subgraph']);
    expect(services.redis!.image).toBe('redis:7-alpine');
    expect(subgraphServices.map(([name]) => name)).toEqual(['users-subgraph']);
    const users = services['users-subgraph']!;
    expect(users.build).toEqual({ context: '..', dockerfile: 'Dockerfile' });
    expect(users.deploy?.replicas).toBe(2);
    expect(users.env_file).toBe('.env');
    // NODE_ENV=production comes from the image (Dockerfile), not from here.
    expect(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8')).toMatch(/ENV NODE_ENV=production/);
  });

  it("every environment: key of the subgraph's services is a variable its configuration reads", () => {
    for (const [, service] of subgraphServices) {
      const names = Object.keys(environmentOf(service));
      expect(names.length).toBeGreaterThan(0);
      expect(unknown(names)).toEqual([]);
    }
  });

  it('the replicas share one Redis, started before them; none is published, the gateway is', () => {
    const users = services['users-subgraph']!;
    expect(environmentOf(users).REDIS_URL).toBe('redis://redis:6379');
    expect(users.depends_on?.redis?.condition).toBe('service_healthy');
    expect(users.ports).toBeUndefined();
    expect(services.gateway!.ports).toEqual(['4000:4000']);
    // The default, so that the gateway's IntrospectAndCompose composes (test/gateways/composition.test.ts).
    expect(environmentOf(users).AUTH_DIRECTIVES_IN_SDL).toBe('0');
  });

  it('healthchecks: the replicas on /health, Redis with PING, the gateway with an operation; each waits for the one before', () => {
    expect(String(services['users-subgraph']!.healthcheck?.test)).toMatch(/127\.0\.0\.1:4001\/health/);
    expect(services.redis!.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(String(services.gateway!.healthcheck?.test)).toMatch(/127\.0\.0\.1:4000\/graphql\?query=%7B__typename%7D/);
    expect(services.gateway!.depends_on).toEqual({ 'users-subgraph': { condition: 'service_healthy' } });
  });

  it('the gateway runs examples/apollo-gateway/gateway.ts against the replicas, and passes on the shared secret', () => {
    const gateway = services.gateway!;
    expect(gateway.build).toEqual({ context: '..', dockerfile: 'Dockerfile', target: 'build' });
    expect(gateway.command).toEqual(['node', '--import', 'tsx', 'examples/apollo-gateway/gateway.ts']);
    expect(gateway.volumes).toEqual(['./apollo-gateway:/app/examples/apollo-gateway:ro']);
    const env = environmentOf(gateway);
    // The service name resolves to both replicas.
    expect(new URL(env.USERS_SUBGRAPH_URL!)).toMatchObject({ hostname: 'users-subgraph', port: '4001', pathname: '/graphql' });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's own interpolation, as written in the file
    expect(env.AUTH_SHARED_SECRET).toBe('${AUTH_SHARED_SECRET:-}');
    // Every variable it is given is one the script reads.
    const script = readFileSync(new URL('../../examples/apollo-gateway/gateway.ts', import.meta.url), 'utf8');
    for (const name of Object.keys(env).filter((n) => n !== 'NODE_ENV')) expect(script).toContain(`env('${name}')`);
    // The Dockerfile's build stage has what it needs: every dependency and the repository's package.json (ESM).
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(/FROM base AS build\nCOPY package\.json package-lock\.json \.\/\n(#.*\n)*RUN npm ci --ignore-scripts\n/);
  });
});

describe('examples/.env.example', () => {
  const text = read('.env.example');
  const lines = text.split('\n');
  const variables = lines.map((line) => line.match(/^#?\s*([A-Z][A-Z0-9_]*)=/)?.[1]).filter((v): v is string => v !== undefined);
  const values = Object.fromEntries(
    lines.map((line) => line.match(/^([A-Z][A-Z0-9_]*)=(.*)$/)).flatMap((m) => (m ? [[m[1]!, m[2]!] as const] : [])),
  );

  it('names the variables an adopter sets first, each one the configuration reads', () => {
    expect(variables).toEqual(
      expect.arrayContaining([
        'X_BEARER_TOKEN',
        'TELEGRAM_API_ID',
        'BITRIX24_WEBHOOK_URL',
        'NEXUDUS_TOKEN',
        'AUTH_SHARED_SECRET',
        'AUTH_SHARED_SECRET_SCOPES',
        'AUTH_DIRECTIVES_IN_SDL',
        'REDIS_URL',
        'CACHE_ADMIN_TOKEN',
        'LOG_LEVEL',
      ]),
    );
    expect(unknown(variables)).toEqual([]);
    expect(new Set(variables).size).toBe(variables.length);
  });

  it('each variable has its comment line above it; credentials and secrets are commented out (set but empty refuses to start)', () => {
    lines.forEach((line, i) => {
      if (!/^#?\s*[A-Z][A-Z0-9_]*=/.test(line)) return;
      // A comment line that is not itself a variable, above this one or above the run of variables it starts.
      let above = i - 1;
      while (above >= 0 && /^#?\s*[A-Z][A-Z0-9_]*=/.test(lines[above]!)) above -= 1;
      expect(lines[above], `the comment above ${line}`).toMatch(/^# \S/);
    });
    for (const secret of [
      'X_BEARER_TOKEN',
      'TELEGRAM_API_HASH',
      'TELEGRAM_BOT_TOKEN',
      'NEXUDUS_TOKEN',
      'NEXUDUS_PASSWORD',
      'AUTH_SHARED_SECRET',
      'REDIS_URL',
      'CACHE_ADMIN_TOKEN',
    ]) {
      expect(values[secret], secret).toBeUndefined();
    }
    expect(text).toMatch(/set but empty \(`X_BEARER_TOKEN=`\) refuses/);
  });

  it('its values start the subgraph as the image runs it, once a credential is set', () => {
    const env = { NODE_ENV: 'production', ...values, X_BEARER_TOKEN: 'example-x-bearer-token' };
    const config = loadConfig(providers, env);
    expect(config.warnings).toEqual([]);
    expect(config.demo).toBe(false);
    expect(config.configured.map((c) => c.provider.id.name)).toEqual(['x']);
    expect(config.accessDirectivesInSdl).toBe(false);
    // Without one, NODE_ENV=production refuses to start, as .env.example says.
    expect(() => loadConfig(providers, { NODE_ENV: 'production', ...values })).toThrow(/no provider is configured/);
    // With the compose file's REDIS_URL too.
    expect(loadConfig(providers, { ...env, REDIS_URL: 'redis://redis:6379' }).redis?.topology).toEqual({
      kind: 'node',
      url: 'redis://redis:6379',
    });
  });
});

describe('examples/router/', () => {
  const router = parse(read('router/router.yaml')) as {
    supergraph: { listen: string };
    override_subgraph_url: Record<string, string>;
    headers: {
      all: { request: Array<{ propagate?: { named: string } }> };
      subgraphs: Record<string, { request: Array<{ propagate?: { named: string } }> }>;
    };
  };
  const supergraph = parse(read('router/supergraph.yaml')) as {
    federation_version: string;
    subgraphs: Record<string, { routing_url: string; schema: { subgraph_url?: string } }>;
  };

  it('router.yaml: listens on 0.0.0.0:4000, forwards authorization to all and the caller headers to users, overrides the users URL', () => {
    expect(router.supergraph.listen).toBe('0.0.0.0:4000');
    expect(router.headers.all.request).toEqual([{ propagate: { named: 'authorization' } }]);
    expect(router.headers.subgraphs.users!.request.map((rule) => rule.propagate?.named)).toEqual([
      'x-caller-x-token',
      'x-caller-bitrix24-token',
      'x-caller-bitrix24-portal',
    ]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Router's own expansion, as written in the file
    expect(router.override_subgraph_url.users).toBe('${env.USERS_SUBGRAPH_URL:-http://users-subgraph:4001/graphql}');
  });

  it('router.yaml says what GraphOS changes: AUTH_DIRECTIVES_IN_SDL=0 starts without it, =1 needs APOLLO_KEY and APOLLO_GRAPH_REF', () => {
    const text = read('router/router.yaml');
    expect(text).toMatch(/AUTH_DIRECTIVES_IN_SDL=0/);
    expect(text).toMatch(/AUTH_DIRECTIVES_IN_SDL=1/);
    expect(text).toMatch(/APOLLO_KEY/);
    expect(text).toMatch(/APOLLO_GRAPH_REF/);
  });

  it('supergraph.yaml: users composed from and routed to port 4001, with the composition version the tests use', () => {
    const users = supergraph.subgraphs.users!;
    expect(new URL(users.routing_url)).toMatchObject({ port: '4001', pathname: '/graphql' });
    expect(new URL(users.schema.subgraph_url!)).toMatchObject({ port: '4001', pathname: '/graphql' });
    expect(new URL(users.routing_url).hostname).toBe(new URL(router.override_subgraph_url.users!.match(/:-(.*)}$/)![1]!).hostname);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    expect(supergraph.federation_version).toBe(`=${pkg.devDependencies['@apollo/composition']}`);
  });

  it('README.md gives the commands', () => {
    const readme = read('router/README.md');
    expect(readme).toContain('rover supergraph compose --config supergraph.yaml > supergraph.graphql');
    expect(readme).toContain('router --config router.yaml --supergraph supergraph.graphql');
  });
});

describe('examples/README.md', () => {
  it('links every example', () => {
    const readme = read('README.md');
    for (const target of [
      'docker-compose.yml',
      '.env.example',
      'apollo-gateway/gateway.ts',
      'hive-gateway/gateway.config.ts',
      'router/README.md',
      'observability/README.md',
      'urql/client.ts',
    ]) {
      expect(readme).toContain(`](${target})`);
      expect(() => read(target)).not.toThrow();
    }
  });
});
