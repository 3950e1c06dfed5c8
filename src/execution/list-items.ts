import { createRequire } from 'node:module';

/**
 * A fix to how graphql-jit 0.8.9 completes list items, so that compiled queries answer lists exactly as
 * graphql-js does (`test/compiled-execution.test.ts` holds both to the same answers, and fails without
 * it): an item whose promise rejects is answered `null` *at its own index*. graphql-jit's generated
 * code pushes that `null` at the end of the list instead, so when the failing item is not the last to
 * settle the list comes back shifted and a null short: an aligned list of users with a NOT_FOUND among
 * them loses its alignment and its last item.
 *
 * The generated code calls the runtime object for this (`safeMap` walks a list, `handleListItemResult`
 * settles one item, synchronously within `safeMap`'s callback), so the fix wraps those two functions of
 * the runtime module graphql-jit's compiler uses (its CommonJS build), once per process.
 */
interface JitRuntime {
  safeMap(ctx: unknown, iterable: Iterable<unknown>, cb: (...args: unknown[]) => void, ...idx: unknown[]): unknown[];
  handleListItemResult(ctx: unknown, item: unknown, onSuccess: (value: unknown) => void, onError: (error: unknown) => void): void;
}

let applied = false;

export function fixListItemCompletion(): void {
  if (applied) return;
  applied = true;
  const runtime = createRequire(import.meta.url)('graphql-jit/dist/runtime').jitRuntime as JitRuntime;
  const handleItem = runtime.handleListItemResult;
  // The list and index of the item being handed to `handleListItemResult` (set just before each call).
  let list: unknown[] = [];
  let index = 0;

  runtime.safeMap = (ctx, iterable, cb, ...idx) => {
    const result: unknown[] = [];
    let at = 0;
    for (const item of iterable) {
      list = result;
      index = at;
      cb(ctx, item, at, result, ...idx);
      at++;
    }
    return result;
  };

  runtime.handleListItemResult = function (this: JitRuntime, ctx, item, onSuccess, onError) {
    const ownList = list;
    const ownIndex = index;
    const failed = (error: unknown) => {
      onError(error); // pushes null at the end (then records the error)
      ownList.pop();
      ownList[ownIndex] = null;
    };
    handleItem.call(this, ctx, item, onSuccess, failed);
  };
}
