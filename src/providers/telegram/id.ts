import type { ProviderId } from '../provider.js';

export const TELEGRAM = { name: 'telegram', label: 'Telegram' } as const satisfies ProviderId;
