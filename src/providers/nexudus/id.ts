import type { ProviderId } from '../../core/types.js';

export const NEXUDUS = { name: 'nexudus', label: 'Nexudus' } as const satisfies ProviderId;
