import type { ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { GraphQLSchema } from 'graphql';
import type { AccessControl } from '../auth/access.js';
import type { Config } from '../config.js';
import { ValuesInFlight } from '../guard/values-in-flight.js';
import { CachePolicies } from '../plan/cache-policy.js';
import type { RequestContext } from '../request/context.js';
import { bugLogPlugin } from './bug-log.js';
import { cacheControlPlugin, maxAgeCaps } from './cache-control.js';
import { fieldPlanPlugin } from './field-plan.js';
import { listItemsPlugin } from './list-items.js';
import { operationTelemetryPlugin } from './operation-telemetry.js';
import { staleAnswersPlugin } from './stale-answers.js';
import { unsafeIntegersPlugin } from './unsafe-integers.js';

/**
 * Every Apollo Server plugin of the subgraph, in the order Apollo runs them for each hook. Apollo's own
 * come first and only turn things off: its cache-control plugin (a hook on every field resolved; the
 * `Cache-Control` header comes from the document alone, `CachePolicies`), usage reporting, and inline
 * traces unless asked for. Then this subgraph's, one per file in this folder.
 */
export function subgraphPlugins(config: Config, schema: GraphQLSchema, access: AccessControl): ApolloServerPlugin<RequestContext>[] {
  return [
    ApolloServerPluginCacheControlDisabled(),
    ApolloServerPluginUsageReportingDisabled(),
    // Inline traces (ftv1) tell a caller how long each field took: only when asked for (INLINE_TRACES=1).
    ...(config.inlineTraces ? [] : [ApolloServerPluginInlineTraceDisabled()]),
    // Apollo's landing page only for EXPLORER=sandbox; GraphiQL is served by the HTTP server (src/explorer/).
    config.explorer === 'sandbox'
      ? ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false })
      : ApolloServerPluginLandingPageDisabled(),
    // requestDidStart: the request's budget of list items, before any root field runs.
    listItemsPlugin(
      config.providers.flatMap((provider) => provider.idArguments),
      config.limits.maxListItems,
      config.limits.maxResultValues,
      // Operations of at least a tenth of the per-operation ceiling are counted against the values in flight.
      config.limits.maxResultValuesInFlight > 0
        ? new ValuesInFlight(config.limits.maxResultValuesInFlight, Math.ceil(config.limits.maxResultValues / 10))
        : undefined,
    ),
    // didResolveOperation: a variable's integer beyond 2^53 (JSON rounded it) refused before anything runs.
    unsafeIntegersPlugin(),
    // didResolveOperation: the fields the operation selects, narrowed to what its caller may see, before any resolver.
    fieldPlanPlugin((selected, context) => access.narrow(selected, context.caller)),
    // didEncounterErrors: a bug's stack in the log.
    bugLogPlugin(),
    // willSendResponse, in this order: the request's log line and span; `extensions.stale`; `Cache-Control`.
    operationTelemetryPlugin(),
    staleAnswersPlugin(),
    cacheControlPlugin(new CachePolicies(schema, maxAgeCaps(config))),
  ];
}
