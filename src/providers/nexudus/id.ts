import type { ProviderId } from '../provider.js';

export const NEXUDUS = { name: 'nexudus', label: 'Nexudus' } as const satisfies ProviderId;
