import type { Logger } from 'pino';
import { ProviderError } from './errors.js';
import type { ProviderId } from './types.js';

/**
 * Every upstream record is attributed by the id it carries, never by where it sat in the answer, and only
 * to an id that was asked (issue 20): a portal answering `{"6": {"id": 7}}` gives user 7's record, not
 * user 6's. What the upstream answered otherwise is checked against what was asked:
 *
 * - a record of an id nobody asked is left out (and said in one log line): it is not an answer;
 * - an asked id left without its record answers `UPSTREAM_UNAVAILABLE` (never cached) when the answer
 *   shows it cannot be trusted — it carried records nobody asked for, or the upstream's contract is to
 *   answer every id asked (`everyIdAnswered`: X lists each one in `data` or `errors`, Bitrix24 maps each
 *   to a record or `null`); otherwise its absence is the upstream's "not found" (a list filtered by id).
 */
export interface Attribution<R> {
  provider: ProviderId;
  /** The call, for the log line. */
  method: string;
  logger: Logger;
  /** The id a record carries, as the lookup keys it. */
  idOf(record: R): string;
  /** Whether the upstream answers every id asked, one way or another. */
  everyIdAnswered: boolean;
}

/**
 * `records` (and `explained`: ids the upstream answered otherwise, an error of its own) filed under the ids
 * they carry, for the ids `asked`; an asked id without either answers as the rules above say, or is absent.
 */
export function attribute<R>(
  asked: readonly string[],
  records: Iterable<R>,
  explained: ReadonlyMap<string, ProviderError>,
  rules: Attribution<R>,
): Map<string, R | ProviderError> {
  const wanted = new Set(asked);
  const found = new Map<string, R | ProviderError>();
  let strays = 0;
  for (const record of records) {
    const id = rules.idOf(record);
    if (!wanted.has(id)) strays++;
    else if (!found.has(id)) found.set(id, record);
  }
  for (const [id, error] of explained) if (wanted.has(id) && !found.has(id)) found.set(id, error);
  const untrusted = strays > 0 || rules.everyIdAnswered;
  let unanswered = 0;
  for (const id of asked) {
    if (found.has(id) || !untrusted) continue;
    unanswered++;
    found.set(id, new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: rules.provider, id }));
  }
  if (strays > 0 || unanswered > 0) {
    rules.logger.warn(
      { provider: rules.provider.name, method: rules.method, strays, unanswered },
      'upstream answered records of ids not asked, or left asked ids unanswered: those ids answer UPSTREAM_UNAVAILABLE',
    );
  }
  return found;
}
