import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';

/** A logger whose every line a test can read back: as written, and parsed. */
export interface CapturedLogs {
  logger: Logger;
  /** The raw JSON lines, in order. */
  lines: string[];
  /** The lines parsed. */
  entries(): Array<Record<string, any>>;
}

export function captureLogs(level: pino.LevelWithSilent = 'debug'): CapturedLogs {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level }, sink), lines, entries: () => lines.map((line) => JSON.parse(line)) };
}
