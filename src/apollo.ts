import { ApolloServer } from '@apollo/server';
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import type { DocumentNode } from 'graphql';
import type { Logger } from 'pino';
import { type AccessControl, enforceAccess } from './auth/access.js';
import type { Config } from './config.js';
import { compiledExecution } from './execution/compiled-executor.js';
import { operationLimitRules } from './guard/operation-limits.js';
import { subgraphPlugins } from './plugins/index.js';
import type { RequestContext } from './request/context.js';
import { buildSchema } from './schema.js';

/**
 * The GraphQL side of the subgraph: the schema (with access control wrapped around the fields it
 * protects), and Apollo Server with only the plugins this subgraph needs (`src/plugins/`).
 */
export interface GraphQLService {
  apollo: ApolloServer<RequestContext>;
  access: AccessControl;
}

/** graphql-js's message when `parseOptions.maxTokens` stops a parse ("more that" is its spelling). */
const TOKEN_LIMIT = /^Syntax Error: Document contains more th(?:at|an) \d+ tokens\. Parsing aborted\.$/;

export async function startGraphQL(config: Config, logger: Logger): Promise<GraphQLService> {
  const schema = buildSchema(config.providers, { accessDirectivesInSdl: config.accessDirectivesInSdl });
  // Wraps the resolvers of the fields the schema protects (docs/access-control.md, "Access control").
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
    // Parsed and validated documents, and with them their compiled queries (kept beside each document, about
    // 34 KB each), at most GRAPHQL_DOCUMENT_CACHE_ENTRIES: a flood of distinct documents, each sent twice,
    // grew the process from 128 MiB to 1.1 GiB under Apollo's default bound, which estimates documents by
    // their JSON length and knows nothing of what is compiled from them. 0: none kept (each is parsed again).
    documentStore: config.documentCacheEntries === 0 ? null : new InMemoryLRUCache<DocumentNode>({ max: config.documentCacheEntries }),
    logger,
    // A document is refused while it is parsed once it has this many tokens (docs/limits.md, "Limits").
    parseOptions: { maxTokens: config.limits.maxTokens },
    // graphql-js says only "Document contains more that N tokens": the limit is named as every other limit's is.
    formatError: (formatted) =>
      formatted.extensions?.code === 'GRAPHQL_PARSE_FAILED' && TOKEN_LIMIT.test(formatted.message)
        ? { ...formatted, extensions: { ...formatted.extensions, limit: 'MAX_QUERY_TOKENS', max: config.limits.maxTokens } }
        : formatted,
    validationRules: operationLimitRules(config.limits),
    plugins: subgraphPlugins(config, schema, access),
  });
  await apollo.start();
  return { apollo, access };
}
