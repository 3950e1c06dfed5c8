import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import type { SelectedFields } from './plan/selected-fields.js';
import { ProviderError, type ProviderName } from './upstream/errors.js';
import { createXLoaders, type XLoaders } from './providers/x/batch.js';
import type { XClient } from './providers/x/client.js';
import { FULL_X_PLAN, planXFields } from './providers/x/plan.js';
import { createTelegramLoaders, type TelegramLoaders } from './providers/telegram/batch.js';
import type { TelegramClient } from './providers/telegram/client.js';
import type { TelegramApiUser } from './providers/telegram/wire.js';
import { createBitrix24Loaders, type Bitrix24Loaders } from './providers/bitrix24/batch.js';
import type { Bitrix24Portal } from './providers/bitrix24/client.js';
import { createNexudusLoader, needsFullRecords } from './providers/nexudus/batch.js';
import type { NexudusClient } from './providers/nexudus/client.js';
import type { NexudusApiUser } from './providers/nexudus/wire.js';

/** The long-lived clients, one per configured provider; `undefined` means not configured. */
export interface Services {
  x: XClient | undefined;
  telegram: TelegramClient | undefined;
  /** Every configured portal by name (empty: Bitrix24 not configured), and the ids per command. */
  bitrix24: { portals: ReadonlyMap<string, Bitrix24Portal>; maxIdsPerCall: number };
  nexudus: NexudusClient | undefined;
}

/**
 * What one GraphQL request carries: its logger, the fields its operation selects (set once the
 * operation is known, before execution), and its loaders — made on first use, never shared
 * between requests, so one caller's results are never served to another.
 */
export class RequestContext {
  /** Set by the field-plan plugin before execution; until then every mappable field is planned. */
  selected: SelectedFields | undefined;
  private xLoaders: XLoaders | undefined;
  private telegramLoaders: TelegramLoaders | undefined;
  private bitrix24Loaders: Bitrix24Loaders | undefined;
  private nexudusLoader: DataLoader<string, NexudusApiUser, string> | undefined;

  constructor(
    private readonly services: Services,
    readonly logger: Logger,
  ) {}

  get x(): XLoaders {
    if (this.xLoaders === undefined) {
      const client = this.services.x;
      this.xLoaders =
        client === undefined
          ? { usersById: notConfigured('x'), usersByUsername: notConfigured('x'), tweetsById: notConfigured('x') }
          : createXLoaders(client, () => (this.selected ? planXFields(this.selected) : FULL_X_PLAN), this.logger);
    }
    return this.xLoaders;
  }

  get telegram(): TelegramLoaders {
    if (this.telegramLoaders === undefined) {
      const service = this.services.telegram;
      if (service === undefined) {
        const usersById = notConfigured<TelegramApiUser>('telegram');
        this.telegramLoaders = { usersById, byUsername: (name) => usersById.load(name) };
      } else {
        this.telegramLoaders = createTelegramLoaders(service, this.logger);
      }
    }
    return this.telegramLoaders;
  }

  get bitrix24(): Bitrix24Loaders {
    if (this.bitrix24Loaders === undefined) {
      const { portals, maxIdsPerCall } = this.services.bitrix24;
      this.bitrix24Loaders =
        portals.size === 0
          ? { forPortal: () => new ProviderError({ code: 'PROVIDER_NOT_CONFIGURED', provider: 'bitrix24' }) }
          : createBitrix24Loaders(portals, maxIdsPerCall, () => this.selected?.has('Bitrix24User.avatarHr') ?? true, this.logger);
    }
    return this.bitrix24Loaders;
  }

  get nexudus(): DataLoader<string, NexudusApiUser, string> {
    if (this.nexudusLoader === undefined) {
      const client = this.services.nexudus;
      this.nexudusLoader =
        client === undefined ? notConfigured('nexudus') : createNexudusLoader(client, () => needsFullRecords(this.selected), this.logger);
    }
    return this.nexudusLoader;
  }
}

/** A loader for a provider without credentials: every key fails with PROVIDER_NOT_CONFIGURED, nothing is sent. */
function notConfigured<V>(provider: ProviderName): DataLoader<string, V, string> {
  return new DataLoader<string, V, string>(async (keys) =>
    keys.map((id) => new ProviderError({ code: 'PROVIDER_NOT_CONFIGURED', provider, id })),
  );
}
