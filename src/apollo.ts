import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { Logger } from 'pino';
import { type AccessControl, enforceAccess } from './auth/access.js';
import { bugLogPlugin } from './bug-log-plugin.js';
import type { Config } from './config.js';
import type { RequestContext } from './context.js';
import { compiledExecution } from './execution/compiled-executor.js';
import { inputGuardPlugin } from './guard/input-guard.js';
import { operationLimitRules } from './guard/operation-limits.js';
import { cacheControlPlugin } from './plan/cache-control-plugin.js';
import { CachePolicies } from './plan/cache-policy.js';
import { fieldPlanPlugin } from './plan/plan-plugin.js';
import { staleAnswersPlugin } from './plan/stale-plugin.js';
import { buildSchema } from './schema.js';
import { operationTelemetryPlugin } from './telemetry/operation.js';

/**
 * The GraphQL side of the subgraph: the schema (with access control wrapped around the fields it
 * protects), and Apollo Server with only the plugins this subgraph needs. Apollo's cache-control plugin
 * (a hook on every field resolved) is off: `Cache-Control` comes from the document alone
 * (`CachePolicies`). Usage reporting is off too.
 */
export interface GraphQLService {
  apollo: ApolloServer<RequestContext>;
  access: AccessControl;
}

export async function startGraphQL(config: Config, logger: Logger): Promise<GraphQLService> {
  const schema = buildSchema(config.providers);
  // Wraps the resolvers of the fields the schema protects (README, "Access control").
  const access = enforceAccess(schema, config.auth, logger);
  const apollo = new ApolloServer<RequestContext>({
    // Compiled queries run through Apollo's executor interface (`src/execution/`); the schema is the same.
    ...(config.executor === 'compiled'
      ? {
          gateway: compiledExecution(schema, { runsBeforeCompiling: config.compileAfterRuns, compileBudgetMs: config.compileBudgetMs })
            .gateway,
        }
      : { schema }),
    introspection: config.introspection,
    csrfPrevention: true,
    includeStacktraceInErrorResponses: false,
    // The HTTP server owns shutdown: it drains requests first, then stops Apollo.
    stopOnTerminationSignals: false,
    // A subgraph is queried by its gateway with full documents: automatic persisted queries would only
    // hold a cache of documents for nobody, and answer a hash mismatch as an internal error.
    persistedQueries: false,
    logger,
    // A document is refused while it is parsed once it has this many tokens (README, "Limits").
    parseOptions: { maxTokens: config.limits.maxTokens },
    validationRules: operationLimitRules(config.limits),
    plugins: [
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      // Inline traces (ftv1) tell a caller how long each field took: only when asked for (INLINE_TRACES=1).
      ...(config.inlineTraces ? [] : [ApolloServerPluginInlineTraceDisabled()]),
      // Apollo's landing page only for EXPLORER=sandbox; GraphiQL is served by the HTTP server (src/explorer/).
      config.explorer === 'sandbox'
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false })
        : ApolloServerPluginLandingPageDisabled(),
      inputGuardPlugin(
        config.providers.flatMap((provider) => provider.idArguments),
        config.limits.maxListItems,
      ),
      fieldPlanPlugin((selected, context) => access.narrow(selected, context.caller)),
      bugLogPlugin(),
      // Each request's operation name and type and its answer's error codes, for its log line and span.
      operationTelemetryPlugin(),
      staleAnswersPlugin(),
      cacheControlPlugin(new CachePolicies(schema, maxAgeCaps(config))),
    ],
  });
  await apollo.start();
  return { apollo, access };
}

/**
 * A type's `@cacheControl` hint never outlives its provider's record TTL (`<NAME>_CACHE_TTL_SECONDS`):
 * the types a provider resolves are those of its resolver map.
 */
function maxAgeCaps(config: Config): Map<string, number> {
  const caps = new Map<string, number>();
  for (const provider of config.providers) {
    const ttlMs = config.sharing.providers.get(provider.id.name)?.ttlMs;
    if (ttlMs === undefined) continue;
    for (const type of Object.keys(provider.resolvers)) if (type !== 'Query') caps.set(type, Math.floor(ttlMs / 1000));
  }
  return caps;
}
