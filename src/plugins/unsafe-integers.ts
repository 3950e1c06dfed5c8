import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';

/**
 * Refuses an operation whose variables hold an integer beyond 2^53 (issue 20): JSON has already rounded
 * it by the time anything reads it, so an id sent as `9007199254740993` would be asked, and answered, as
 * user 9007199254740992. Ids that large are sent as strings; the error says so, before anything runs.
 */
export function unsafeIntegersPlugin(): ApolloServerPlugin<object> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request }) {
          const at = unsafeIntegerAt(request.variables);
          if (at === undefined) return;
          throw new GraphQLError(`Variable "$${at}" holds a number beyond 2^53, which JSON cannot carry exactly: send it as a string`, {
            extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
          });
        },
      };
    },
  };
}

/** The path (`ids[3]`) of the first integer in `value` that a double cannot hold exactly; undefined when none. */
export function unsafeIntegerAt(value: unknown): string | undefined {
  const stack: Array<[unknown, string]> = [];
  if (value !== null && typeof value === 'object') for (const [name, item] of Object.entries(value)) stack.push([item, name]);
  while (stack.length > 0) {
    const [item, path] = stack.pop()!;
    if (typeof item === 'number') {
      if (Number.isInteger(item) && !Number.isSafeInteger(item)) return path;
    } else if (Array.isArray(item)) {
      for (let i = item.length - 1; i >= 0; i--) stack.push([item[i], `${path}[${i}]`]);
    } else if (item !== null && typeof item === 'object') {
      for (const [name, element] of Object.entries(item)) stack.push([element, `${path}.${name}`]);
    }
  }
  return undefined;
}
