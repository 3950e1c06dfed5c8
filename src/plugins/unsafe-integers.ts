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
  if (value === null || typeof value !== 'object') return undefined;
  // Walked depth first without recursion (variables nest as deep as a body allows), one frame per object or
  // list, none per element, and a path made only for what is walked into or found: a hundred ids cost nothing
  // here (a tuple and a path string per element were 16 KiB of a 100-id operation).
  const frames: Frame[] = [frameOf(value, undefined, false)];
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]!;
    const { container, keys } = frame;
    if (frame.next === (keys === undefined ? (container as unknown[]).length : keys.length)) {
      frames.pop();
      continue;
    }
    const at = frame.next++;
    const key = keys === undefined ? at : keys[at]!;
    const item = (container as Record<string | number, unknown>)[key];
    if (typeof item === 'number') {
      if (Number.isInteger(item) && !Number.isSafeInteger(item)) return pathOf(frame, key);
    } else if (item !== null && typeof item === 'object') {
      frames.push(frameOf(item, pathOf(frame, key), Array.isArray(item)));
    }
  }
  return undefined;
}

interface Frame {
  container: object;
  /** An object's own keys; `undefined` for a list, walked by index. */
  keys: string[] | undefined;
  next: number;
  /** Where `container` is; `undefined` for the variables themselves. */
  path: string | undefined;
}

function frameOf(container: object, path: string | undefined, list: boolean): Frame {
  return { container, keys: list ? undefined : Object.keys(container), next: 0, path };
}

function pathOf(frame: Frame, key: string | number): string {
  if (typeof key === 'number') return `${frame.path ?? ''}[${key}]`;
  return frame.path === undefined ? key : `${frame.path}.${key}`;
}
