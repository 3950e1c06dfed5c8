import { afterEach, describe, expect, it, vi } from 'vitest';
import { AbandonedCall, ProviderError } from '../core/errors.js';
import type { ProviderId } from '../core/types.js';
import { registry } from '../telemetry/metrics.js';
import { captureLogs } from '../testing/log-capture.js';
import { Circuits } from './circuit.js';

/** cockatiel times the open period with Date.now(): only Date is faked, so nothing else changes. */
afterEach(() => vi.useRealTimers());

const ACME: ProviderId = { name: 'acme', label: 'Acme' };
const unavailable = () => Promise.reject(new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider: ACME }));
const notFound = () => Promise.reject(new ProviderError({ code: 'NOT_FOUND', provider: ACME, id: '1' }));
const abandoned = () => Promise.reject(new AbandonedCall({ code: 'UPSTREAM_UNAVAILABLE', provider: ACME }));
const ok = () => Promise.resolve('ok');

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as ProviderError).code;
  }
}

describe('a circuit', () => {
  it('opens after `failures` calls in a row that found the upstream unavailable, fails fast while open, and tries one call after the cool-down', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 0 });
    const circuit = new Circuits({ failures: 3, coolDownMs: 10_000 }, captureLogs('silent').logger).create(ACME, 'main');
    let called = 0;
    const counted = (call: () => Promise<unknown>) => () => {
      called++;
      return call();
    };
    for (let i = 0; i < 3; i++) expect(await codeOf(circuit.run(counted(unavailable)))).toBe('UPSTREAM_UNAVAILABLE');
    expect(circuit.state).toBe('open');
    // Open: refused without calling, with retryAfter.
    const refused = await circuit.run(counted(ok)).catch((error: ProviderError) => error);
    expect(refused).toBeInstanceOf(ProviderError);
    expect((refused as ProviderError).extensions).toEqual({ code: 'UPSTREAM_UNAVAILABLE', provider: 'acme', retryAfter: 10 });
    expect(called).toBe(3);
    expect(await registry.getSingleMetricAsString('users_subgraph_upstream_circuit_state')).toContain(
      'users_subgraph_upstream_circuit_state{provider="acme",scope="main"} 2',
    );

    vi.setSystemTime(10_000);
    expect(await codeOf(circuit.run(counted(ok)))).toBe('ok');
    expect(called).toBe(4);
    expect(circuit.state).toBe('closed');
  });

  it("counts neither the upstream's other answers nor calls their callers abandoned", async () => {
    const circuit = new Circuits({ failures: 2, coolDownMs: 10_000 }, captureLogs('silent').logger).create(ACME, 'answers');
    for (let i = 0; i < 5; i++) {
      await codeOf(circuit.run(notFound));
      await codeOf(circuit.run(abandoned));
    }
    expect(circuit.state).toBe('closed');
    // A success between failures starts the count again.
    await codeOf(circuit.run(unavailable));
    await codeOf(circuit.run(ok));
    await codeOf(circuit.run(unavailable));
    expect(circuit.state).toBe('closed');
  });

  it('lists every circuit and its state for /ready', async () => {
    const circuits = new Circuits({ failures: 1, coolDownMs: 10_000 }, captureLogs('silent').logger);
    circuits.create(ACME);
    const portal = circuits.create(ACME, 'portal');
    await codeOf(portal.run(unavailable));
    expect(circuits.states()).toEqual([
      { provider: 'acme', scope: '', state: 'closed' },
      { provider: 'acme', scope: 'portal', state: 'open' },
    ]);
  });
});
