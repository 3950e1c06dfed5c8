import { type Logger, pino } from 'pino';

/**
 * The process logger. Nothing logged here should carry a secret in the first place (the upstream
 * layer logs request labels, never URLs or headers); the redaction list is a second line of defence
 * for objects logged whole by mistake.
 */
export function createLogger(level: string, fd = 1): Logger {
  return pino(
    {
      level,
      base: { service: 'users-subgraph' },
      redact: {
        paths: [
          'authorization',
          '*.authorization',
          'headers.authorization',
          '*.headers.authorization',
          'token',
          '*.token',
          'bearerToken',
          '*.bearerToken',
          'password',
          '*.password',
        ],
        censor: '[redacted]',
      },
    },
    // Written synchronously, as Node writes its own stdout to a pipe: each line is out when the call returns, so
    // nothing is left to flush at exit. pino's default buffers asynchronously and flushes on exit with
    // sonic-boom's flushSync, which retries a broken pipe forever: a process whose log reader had gone (EPIPE)
    // never exited on SIGTERM. A broken pipe now silences the logger instead (pino.destination's EPIPE filter).
    pino.destination({ dest: fd, sync: true }),
  );
}
