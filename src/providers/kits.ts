import { bitrix24Kit } from './bitrix24/kit.js';
import { nexudusKit } from './nexudus/kit.js';
import { telegramKit } from './telegram/kit.js';
import { xKit } from './x/kit.js';

/**
 * Every provider's test kit (`kit.ts` in its folder), in registry order: what the embedded demo and the
 * tests start. Production code loads this module only for the demo, by dynamic import.
 */
export const kits = [xKit, telegramKit, bitrix24Kit, nexudusKit] as const;
