import type { ProviderId } from '../provider.js';

export const BITRIX24 = { name: 'bitrix24', label: 'Bitrix24' } as const satisfies ProviderId;
