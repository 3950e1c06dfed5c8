import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import type { Logger } from 'pino';
import { AbandonedCall, ProviderError } from '../core/errors.js';
import type { CircuitSettings } from '../core/settings.js';
import type { ProviderId } from '../core/types.js';
import { circuitState } from '../telemetry/metrics.js';

/**
 * A circuit breaker per upstream and scope (an account, a portal): after `failures` calls in a row
 * that found the upstream unavailable (timeouts, 5xx, refused connections, after their own retries),
 * calls fail at once with UPSTREAM_UNAVAILABLE for `coolDownMs`, instead of each one spending its
 * attempts and the caller's time on a service that is down; then one call is let through to try, and
 * its outcome closes or reopens the circuit. An upstream's other answers (not found, rate limited,
 * refused credentials) are answers, and do not count. cockatiel does the state keeping.
 */

export type CircuitStateName = 'closed' | 'open' | 'half-open';

export interface Circuit {
  readonly provider: ProviderId;
  readonly scope: string;
  readonly state: CircuitStateName;
  /** Runs `call` through the circuit: at once, or refused while it is open. */
  run<T>(call: () => Promise<T>): Promise<T>;
}

/** Every circuit of the process, for `/ready` and `/metrics`. */
export class Circuits {
  private readonly all: Circuit[] = [];

  constructor(
    private readonly settings: CircuitSettings,
    private readonly logger: Logger,
  ) {}

  /** The circuit of one upstream scope, e.g. (`bitrix24`, `acme`), or (`x`, `oauth`). */
  create(provider: ProviderId, scope = ''): Circuit {
    const circuit = createCircuit(provider, scope, this.settings, this.logger);
    this.all.push(circuit);
    return circuit;
  }

  /** Every circuit and its state, in creation order. */
  states(): Array<{ provider: string; scope: string; state: CircuitStateName }> {
    return this.all.map((circuit) => ({ provider: circuit.provider.name, scope: circuit.scope, state: circuit.state }));
  }
}

const STATE_NAMES: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};
const STATE_VALUES: Record<CircuitStateName, number> = { closed: 0, 'half-open': 1, open: 2 };

function createCircuit(provider: ProviderId, scope: string, settings: CircuitSettings, logger: Logger): Circuit {
  // A call its caller abandoned tells nothing about the upstream: only real unavailability counts.
  const unavailable = handleWhen(
    (error) => error instanceof ProviderError && error.code === 'UPSTREAM_UNAVAILABLE' && !(error instanceof AbandonedCall),
  );
  const policy = circuitBreaker(unavailable, { halfOpenAfter: settings.coolDownMs, breaker: new ConsecutiveBreaker(settings.failures) });
  const labels = { provider: provider.name, scope };
  circuitState.set(labels, 0);
  policy.onStateChange((state) => {
    const name = STATE_NAMES[state];
    circuitState.set(labels, STATE_VALUES[name]);
    logger[name === 'open' ? 'warn' : 'info']({ scope, circuit: name }, `circuit ${name}`);
  });
  return {
    provider,
    scope,
    get state() {
      return STATE_NAMES[policy.state];
    },
    async run(call) {
      try {
        return await policy.execute(call);
      } catch (error) {
        if (!(error instanceof BrokenCircuitError)) throw error;
        const retryAfter = Math.ceil(settings.coolDownMs / 1000);
        throw new ProviderError(
          { code: 'UPSTREAM_UNAVAILABLE', provider, retryAfter },
          `${provider.label} has been failing: calls to it are paused for up to ${retryAfter}s`,
        );
      }
    },
  };
}
