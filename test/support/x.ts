import type { Harness } from './harness.js';

/** Requests the X emulator received (all of them: retries and refusals too), optionally for one path. */
export function xCalls(h: Harness, path?: string) {
  const requests = h.emulator('x').requests;
  return path === undefined ? requests : requests.filter((r) => r.path === path);
}

/** The ids of one recorded `/2/users` or `/2/tweets` call. */
export function idsOf(request: { query: Record<string, string> }): string[] {
  return (request.query.ids ?? request.query.usernames ?? '').split(',').filter(Boolean);
}
