import type { ApolloServerOptionsWithGateway, BaseContext } from '@apollo/server';
import { type DocumentNode, type ExecutionResult, execute, type GraphQLSchema } from 'graphql';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import { documentsCompiled } from '../telemetry/metrics.js';
import { fixListItemCompletion } from './list-items.js';

/**
 * Executes operations with queries compiled by graphql-jit instead of graphql-js's interpreter: the
 * compiled function knows the operation's shape, so each field costs a property read and a call where
 * graphql-js looks up its definition, builds its arguments and resolve info, and checks its type. On
 * the cold path (100 users × 15 fields = 1,500 fields an operation) that interpreting was a fifth of
 * the CPU an operation cost, its largest single part (docs/benchmarks.md, "Benchmarks").
 *
 * It plugs in through Apollo Server's executor interface (the `gateway` option, which Apollo Gateway
 * uses for its query plans): parsing, validation, the document cache, plugins and the HTTP answer stay
 * Apollo's. What it does not compile (graphql-jit refuses the document) runs on graphql-js, as does
 * every document until it is seen again: compiling costs about 0.7 ms (the benchmark's 15-field
 * document), a few executions' worth, so a document sent once (or a client sending a new one each time)
 * is never compiled. Compiling runs on the event loop, so it is bounded as a hostile client would use
 * it: documents over 8 KB are never compiled, and compiling draws on a budget of time that refills
 * slowly (a flood of new documents runs on graphql-js). Compiled queries live as long as Apollo keeps
 * their parsed document in its cache (a WeakMap on the document).
 */
export interface CompiledExecution {
  gateway: GatewayInterface;
  /** How many documents were compiled, and how many refused (for tests and the benchmark's notes). */
  stats(): { compiled: number; refused: number };
}

/** Apollo Server's executor interface (its types, without depending on the package that declares them). */
type GatewayInterface = ApolloServerOptionsWithGateway<BaseContext>['gateway'];
type GatewayExecutor = NonNullable<Awaited<ReturnType<GatewayInterface['load']>>['executor']>;

export interface CompiledExecutionOptions {
  /** Executions of a document on graphql-js before it is compiled (default 1; the tests compile at once). */
  runsBeforeCompiling?: number;
  /**
   * Documents longer than this (characters) are never compiled. Compiling takes about 8 µs per character
   * (0.7 ms for the benchmark's 15-field document, 190 ms for 24 KB of aliased fields), all of it on the
   * event loop: without a bound, a client sending large documents twice each could stall every request.
   */
  maxDocumentChars?: number;
  /**
   * Compiling time allowed, in ms: a bucket of this many, refilled at a tenth of it a second (default
   * 100: at most 10 ms of compiling a second once spent). A document that finds it empty runs on
   * graphql-js and is compiled on a later run.
   */
  compileBudgetMs?: number;
  /** Milliseconds (tests move their own). */
  now?: () => number;
}

type Entry = { runs: number; compiled?: CompiledQuery; refused?: true };

export function compiledExecution(schema: GraphQLSchema, options: CompiledExecutionOptions = {}): CompiledExecution {
  const { runsBeforeCompiling = 1, maxDocumentChars = 8_192, compileBudgetMs = 100, now = () => performance.now() } = options;
  fixListItemCompletion();
  let budget = compileBudgetMs;
  let budgetAt = now();
  /** Whether compiling may start now (the bucket refilled for the time since it was last looked at). */
  const mayCompile = () => {
    const at = now();
    budget = Math.min(compileBudgetMs, budget + ((at - budgetAt) / 1000) * (compileBudgetMs / 10));
    budgetAt = at;
    return budget > 0;
  };
  const entries = new WeakMap<DocumentNode, Map<string, Entry>>();
  let compiled = 0;
  let refused = 0;

  function entryOf(document: DocumentNode, operationName: string): Entry {
    let byName = entries.get(document);
    if (byName === undefined) {
      byName = new Map();
      entries.set(document, byName);
    }
    let entry = byName.get(operationName);
    if (entry === undefined) {
      entry = { runs: 0 };
      byName.set(operationName, entry);
    }
    return entry;
  }

  const executor: GatewayExecutor = async ({ document, source, operationName, request, context }) => {
    const name = operationName ?? '';
    const entry = entryOf(document, name);
    if (
      entry.compiled === undefined &&
      entry.refused === undefined &&
      entry.runs++ >= runsBeforeCompiling &&
      source.length <= maxDocumentChars &&
      mayCompile()
    ) {
      const started = now();
      const result = compileQuery(schema, document, operationName ?? undefined, {
        // An error's stack is never shown (includeStacktraceInErrorResponses: false); capturing one per
        // failed field (an aligned list of NOT_FOUND users) would be most of the error's cost.
        disablingCapturingStackErrors: true,
      });
      budget -= now() - started;
      if (isCompiledQuery(result)) {
        entry.compiled = result;
        compiled++;
        documentsCompiled.inc();
      } else {
        entry.refused = true;
        refused++;
      }
    }
    if (entry.compiled !== undefined) {
      const result = (await entry.compiled.query(undefined, context, request.variables)) as ExecutionResult;
      // No data at all: the variables were refused before anything ran. graphql-js words those errors
      // the way Apollo recognizes as BAD_USER_INPUT (HTTP 400); its own run stops at the same point.
      if (result.data !== undefined) return result;
    }
    return (await execute({
      schema,
      document,
      contextValue: context,
      variableValues: request.variables,
      operationName: operationName ?? undefined,
    })) as ExecutionResult;
  };

  return {
    gateway: {
      // The schema is this subgraph's own, loaded once: "loading" hands it to Apollo with the executor.
      onSchemaLoadOrUpdate(callback) {
        callback({ apiSchema: schema, coreSupergraphSdl: '' });
        return () => {};
      },
      async load() {
        return { executor };
      },
      async stop() {},
    },
    stats: () => ({ compiled, refused }),
  };
}
