import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import {
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import type { OperationLimits } from '../core/settings.js';

/**
 * What an operation may cost, checked before it runs, as validation rules: a refused operation answers
 * GRAPHQL_VALIDATION_FAILED (HTTP 400) with the limit named, and nothing runs. GraphQL Armor's rules
 * count depth, aliases, directives and field selections through fragments, each fragment once (so a
 * 2 KB document whose fragments double at every level is counted, not expanded); two small rules of
 * ours refuse operations that are not queries and bound the root fields. They report rather than
 * throw, so the rest of validation (which graphql-js memoizes as well) finishes, and every problem
 * is listed.
 */
export function operationLimitRules(limits: OperationLimits): ValidationRule[] {
  return [
    queriesOnlyRule,
    maxDepthRule({ n: limits.maxDepth, flattenFragments: true, ...reportAs('MAX_QUERY_DEPTH', limits.maxDepth) }),
    maxAliasesRule({ n: limits.maxAliases, ...reportAs('MAX_QUERY_ALIASES', limits.maxAliases) }),
    maxDirectivesRule({ n: limits.maxDirectives, ...reportAs('MAX_QUERY_DIRECTIVES', limits.maxDirectives) }),
    // Every selection costs 1 wherever it sits: the count is the field selections after expansion.
    costLimitRule({
      maxCost: limits.maxFields,
      objectCost: 1,
      scalarCost: 1,
      depthCostFactor: 1,
      flattenFragments: true,
      ...reportAs('MAX_QUERY_FIELDS', limits.maxFields),
    }),
    maxRootFieldsRule(limits.maxRootFields),
  ];
}

/** Armor's options that make a rule report its refusal, in our words, instead of throwing it. */
function reportAs(variable: string, limit: number) {
  return {
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) => {
        // Armor's message is "Syntax Error: <what>, found <n>."; the variable that sets the limit is ours.
        const what = error.message.replace(/^Syntax Error: /, '').replace(/\.$/, '');
        context?.reportError(new GraphQLError(`${what} (${variable})`, { extensions: { limit: variable, max: limit } }));
      },
    ],
  };
}

/** This subgraph reads: a mutation or subscription is refused as the invalid request it is. */
const queriesOnlyRule: ValidationRule = (context) => ({
  OperationDefinition(node) {
    if (node.operation === 'query') return;
    context.reportError(new GraphQLError(`This subgraph serves queries only; a ${node.operation} cannot be run here`, { nodes: [node] }));
  },
});

/** At most `max` root fields per operation, through fragments spread at the root (`__typename` is free). */
function maxRootFieldsRule(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(node) {
      const count = countRootFields(node.selectionSet, context, new Set());
      if (count > max) {
        context.reportError(
          new GraphQLError(`This operation has ${count} root fields; at most ${max} are allowed (MAX_ROOT_FIELDS)`, {
            nodes: [node],
            extensions: { limit: 'MAX_ROOT_FIELDS', max },
          }),
        );
      }
    },
  });
}

function countRootFields(set: SelectionSetNode, context: ValidationContext, seen: Set<string>): number {
  let count = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value !== '__typename') count++;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      count += countRootFields(selection.selectionSet, context, seen);
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment: FragmentDefinitionNode | null | undefined = context.getFragment(selection.name.value);
      if (fragment) count += countRootFields(fragment.selectionSet, context, seen);
    }
  }
  return count;
}
