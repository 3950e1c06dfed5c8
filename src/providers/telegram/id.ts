import type { ProviderId } from '../../core/types.js';

export const TELEGRAM = { name: 'telegram', label: 'Telegram' } as const satisfies ProviderId;
