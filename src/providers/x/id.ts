import type { ProviderId } from '../provider.js';

export const X = { name: 'x', label: 'X' } as const satisfies ProviderId;
