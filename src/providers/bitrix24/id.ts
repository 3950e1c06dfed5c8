import type { ProviderId } from '../../core/types.js';

export const BITRIX24 = { name: 'bitrix24', label: 'Bitrix24' } as const satisfies ProviderId;
