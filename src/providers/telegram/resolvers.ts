import type { Resolvers, TelegramPresence } from '../../generated/resolvers-types.js';
import { telegramUserByUsername, telegramUsers } from './batch.js';
import type { TelegramApiUserStatus } from './wire.js';

/**
 * Telegram's GraphQL types, mapped from mtcute's TL objects. `tl.RawUser` flags are absent when
 * false, hence the `=== true`; Telegram's times are epoch seconds, GraphQL's ISO 8601.
 */
export const telegramResolvers: Resolvers = {
  Query: {
    telegramUsers: (_parent, { ids, usernames }, context) => [
      ...(ids ?? []).map((id) => context.load(telegramUsers, id)),
      ...(usernames ?? []).map((username) => telegramUserByUsername(context, username)),
    ],
  },
  TelegramUser: {
    __resolveReference: (reference, context) => context.load(telegramUsers, reference.id),
    id: (user) => String(user.id),
    provider: () => 'TELEGRAM',
    displayName: (user) => [user.firstName, user.lastName].filter(Boolean).join(' ') || user.username || null,
    avatarUrl: () => null,
    firstName: (user) => user.firstName ?? null,
    lastName: (user) => user.lastName ?? null,
    username: (user) => user.username ?? null,
    profileUrl: (user) => (user.username ? `https://t.me/${encodeURIComponent(user.username)}` : null),
    usernames: (user) => {
      const all = user.usernames ?? [];
      if (all.length === 0) return user.username ? [user.username] : [];
      return [...all].sort((a, b) => Number(b.active === true) - Number(a.active === true)).map((u) => u.username);
    },
    // Telegram sends the digits only; E.164 wants the `+`.
    phone: (user) => (user.phone ? `+${user.phone.replace(/^\+/, '')}` : null),
    bot: (user) => user.bot === true,
    verified: (user) => user.verified === true,
    premium: (user) => user.premium === true,
    scam: (user) => user.scam === true,
    fake: (user) => user.fake === true,
    support: (user) => user.support === true,
    deleted: (user) => user.deleted === true,
    restricted: (user) => user.restricted === true,
    langCode: (user) => user.langCode ?? null,
    status: (user): TelegramApiUserStatus => user.status ?? { _: 'userStatusEmpty' },
    hasPhoto: (user) => user.photo?._ === 'userProfilePhoto',
    photo: (user) => (user.photo?._ === 'userProfilePhoto' ? user.photo : null),
  },
  TelegramUserStatus: {
    presence: (status) => PRESENCE[status._],
    onlineUntil: (status) => (status._ === 'userStatusOnline' ? isoFromSeconds(status.expires) : null),
    lastSeenAt: (status) => (status._ === 'userStatusOffline' ? isoFromSeconds(status.wasOnline) : null),
  },
  TelegramProfilePhoto: {
    photoId: (photo) => photo.photoId.toString(),
    hasVideo: (photo) => photo.hasVideo === true,
    personal: (photo) => photo.personal === true,
  },
};

const PRESENCE: Record<TelegramApiUserStatus['_'], TelegramPresence> = {
  userStatusOnline: 'ONLINE',
  userStatusOffline: 'OFFLINE',
  userStatusRecently: 'RECENTLY',
  userStatusLastWeek: 'WITHIN_WEEK',
  userStatusLastMonth: 'WITHIN_MONTH',
  userStatusEmpty: 'HIDDEN',
};

function isoFromSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}
