import { type Logger, pino } from 'pino';

/**
 * The process logger. Nothing logged here should carry a secret in the first place (the upstream
 * layer logs request labels, never URLs or headers); the redaction list is a second line of defence
 * for objects logged whole by mistake.
 */
export function createLogger(level: string): Logger {
  return pino({
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
  });
}
