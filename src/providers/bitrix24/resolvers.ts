import type { Resolvers } from '../../generated/resolvers-types.js';
import { bitrix24Services, loadBitrix24User } from './batch.js';
import type { BitrixDate } from './wire.js';

/**
 * Bitrix24's GraphQL types, mapped from `im.user.list.get` records. Bitrix writes "not set" as `''` or
 * `false` and dates as ATOM strings with an offset: here both become `null` and ISO 8601 in UTC.
 */
export const bitrix24Resolvers: Resolvers = {
  Query: {
    bitrix24Users: (_parent, { ids, portal }, context) => ids.map((id) => loadBitrix24User(context, id, portal)),
  },
  Bitrix24User: {
    __resolveReference: (reference, context) => loadBitrix24User(context, reference.id, reference.portal),
    id: ({ user }) => String(user.id),
    portal: ({ portal }) => portal,
    provider: () => 'BITRIX24',
    displayName: ({ user }) => text(user.name),
    avatarUrl: ({ user }) => text(user.avatar),
    username: () => null,
    profileUrl: ({ user, portal }, _args, context) => {
      const origin = bitrix24Services.in(context.runtime)?.portals.get(portal)?.origin;
      return origin === undefined ? null : `${origin}/company/personal/user/${encodeURIComponent(String(user.id))}/`;
    },
    active: ({ user }) => user.active ?? null,
    name: ({ user }) => text(user.name),
    firstName: ({ user }) => text(user.first_name),
    lastName: ({ user }) => text(user.last_name),
    workPosition: ({ user }) => text(user.work_position),
    color: ({ user }) => text(user.color),
    avatar: ({ user }) => text(user.avatar),
    avatarHr: ({ user }) => text(user.avatar_hr),
    gender: ({ user }) => text(user.gender),
    birthday: ({ user }) => text(user.birthday),
    extranet: ({ user }) => user.extranet === true,
    network: ({ user }) => user.network === true,
    bot: ({ user }) => user.bot === true,
    connector: ({ user }) => user.connector === true,
    externalAuthId: ({ user }) => text(user.external_auth_id),
    onlineStatus: ({ user }) => text(user.status),
    idle: ({ user }) => isoDate(user.idle),
    lastActivityDate: ({ user }) => isoDate(user.last_activity_date),
    desktopLastDate: ({ user }) => isoDate(user.desktop_last_date),
    mobileLastDate: ({ user }) => isoDate(user.mobile_last_date),
    absent: ({ user }) => isoDate(user.absent),
    departmentIds: ({ user }) => (user.departments ?? []).map(String),
    phones: ({ user }) => (user.phones === false || user.phones === undefined ? null : user.phones),
  },
  Bitrix24Phones: {
    workPhone: (phones) => text(phones.work_phone),
    personalMobile: (phones) => text(phones.personal_mobile),
    personalPhone: (phones) => text(phones.personal_phone),
  },
};

/** `''` means "not set" in Bitrix24. */
function text(value: string | undefined | null): string | null {
  return value === undefined || value === null || value === '' ? null : value;
}

/** An ATOM date (or `false`) as ISO 8601 in UTC; anything unparsable is "not set". */
function isoDate(value: BitrixDate | undefined | null): string | null {
  if (typeof value !== 'string' || value === '') return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}
