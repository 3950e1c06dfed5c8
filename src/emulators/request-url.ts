/** A request target (`req.url`) split at the first `?`: the path, and the query string without the `?`. */
export function splitRequestUrl(url: string | undefined): { path: string; query: string } {
  const target = url ?? '/';
  const mark = target.indexOf('?');
  return mark === -1 ? { path: target, query: '' } : { path: target.slice(0, mark), query: target.slice(mark + 1) };
}
