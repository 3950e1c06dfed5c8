import type { ProviderId } from '../../core/types.js';

export const X = { name: 'x', label: 'X' } as const satisfies ProviderId;
