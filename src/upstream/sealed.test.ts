import { describe, expect, it } from 'vitest';
import { Sealer } from './sealed.js';

describe('Sealer', () => {
  const sealer = new Sealer('cl1ent-s3cret', 'users-subgraph token acme portal-a');

  it('opens what it sealed for the same place; the sealed text does not contain the plaintext, and differs every time', () => {
    const a = sealer.seal('{"token":"acc3ss-T0KEN"}', 'key:a');
    const b = sealer.seal('{"token":"acc3ss-T0KEN"}', 'key:a');
    expect(a).not.toContain('acc3ss');
    expect(a).not.toBe(b); // a random IV per value
    expect(sealer.open(a, 'key:a')).toBe('{"token":"acc3ss-T0KEN"}');
    expect(sealer.open(b, 'key:a')).toBe('{"token":"acc3ss-T0KEN"}');
  });

  it('opens nothing sealed with another secret or purpose, for another place, altered, or not sealed at all', () => {
    const sealed = sealer.seal('value', 'key:a');
    expect(new Sealer('another-secret', 'users-subgraph token acme portal-a').open(sealed, 'key:a')).toBeUndefined();
    expect(new Sealer('cl1ent-s3cret', 'users-subgraph token acme portal-b').open(sealed, 'key:a')).toBeUndefined();
    expect(sealer.open(sealed, 'key:b')).toBeUndefined();
    const [v, iv, body, tag] = sealed.split('.');
    const flipped = Buffer.from(body!, 'base64url');
    flipped[0]! ^= 1;
    expect(sealer.open([v, iv, flipped.toString('base64url'), tag].join('.'), 'key:a')).toBeUndefined();
    for (const garbage of ['', 'v1', 'v1...', 'v2.a.b.c', `v1.${iv}.${body}`, 'value', `v1.${iv}.${body}.AAAA`]) {
      expect(sealer.open(garbage, 'key:a')).toBeUndefined();
    }
  });
});
