/**
 * Deterministic synthetic Nexudus users for the embedded demo and the Nexudus emulator.
 * Every field is a pure function of the numeric id (no randomness, no clock), so tests and benchmarks
 * see the same records on every run and across processes.
 *
 * Users `1..NEXUDUS_DEMO_MAX_ID` exist. `demoNexudusUser` is the full record (`GET /api/sys/users/{id}`);
 * `partialNexudusUser` is what the batch endpoint (`GET /api/sys/users/?id=[..]`) sends for it.
 * Credential-like fields (AccessToken, Password, NewPassword, TwoFactorSecret) are always null.
 */
import { NEXUDUS_NOTIFICATION_FIELDS, NEXUDUS_PARTIAL_FIELDS, type NexudusApiUser, type NexudusPartialField } from './wire-extras.js';

/** Highest known demo user id; ids `1..NEXUDUS_DEMO_MAX_ID` exist, every other id is unknown. */
export const NEXUDUS_DEMO_MAX_ID = 10_000;

/** The UserRole group (think "User-Read") the users with id % 7 === 0 are assigned. */
export const NEXUDUS_DEMO_ROLE_ID = 1;

/** Locations: every user belongs to `100 + id % 3`; ids divisible by 5 also to this one. */
export const NEXUDUS_DEMO_SECOND_BUSINESS_ID = 200;

/** eLanguage: 1 EnglishUS, 3 EnglishUK, 2 Spanish. */
const LANGUAGES = [1, 3, 2] as const;

// Fixed epochs. Records are created from 2019-01-01 every ~2.6 h (10 000 users span ~3 years) and last
// updated up to ~400 days later; LastAccess lies within the 30 days before 2026-11-01T00:00:00Z.
const CREATED_EPOCH_MS = Date.UTC(2019, 0, 1);
const CREATED_STEP_S = 2 * 3600 + 37 * 60 + 11;
const LAST_ACCESS_ANCHOR_MS = Date.UTC(2026, 10, 1);
const THIRTY_DAYS_S = 30 * 86_400;

/** Epoch ms → `2025-01-15T10:30:00Z` (whole seconds, like the API's examples). */
export function formatNexudusDate(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}Z`;
}

/** 32-bit mix (a murmur3 finaliser): neighbouring inputs give unrelated outputs. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

/**
 * A version-4-shaped GUID from the id: hashed hex up front, the id itself (hex) in the last group, so
 * it is unique per id and reads like a real one, e.g. `3c1f9a2b-5d7e-4a81-9c02-00000000002a`.
 */
export function demoNexudusUniqueId(id: number): string {
  const first = hex8(mix32(id));
  const middle = hex8(mix32(id ^ 0x5bd1_e995));
  const variant = '89ab'[mix32(id + 17) % 4] ?? '8';
  return `${first}-${middle.slice(0, 4)}-4${middle.slice(5, 8)}-${variant}${hex8(mix32(id + 31)).slice(0, 3)}-${id.toString(16).padStart(12, '0')}`;
}

/** Each notification flag's value is `(id + its index) % 3 !== 0`. */
const NOTIFICATION_FIELDS = NEXUDUS_NOTIFICATION_FIELDS;

type NotificationField = (typeof NOTIFICATION_FIELDS)[number];

function notificationFlag(id: number, field: NotificationField): boolean {
  return (id + NOTIFICATION_FIELDS.indexOf(field)) % 3 !== 0;
}

/** The full record of demo user `id`, keys in the order of the "Get one User" page. */
export function demoNexudusUser(id: number): NexudusApiUser {
  const createdS = id * CREATED_STEP_S;
  const updatedS = createdS + (id % 400) * 86_400 + (id % 97) * 60;
  const flag = (field: NotificationField): boolean => notificationFlag(id, field);
  const fullName = `Demo User ${id}`;
  return {
    FullName: fullName,
    Email: `user${id}@coworking.example`,
    AccessToken: null,
    Language: LANGUAGES[id % LANGUAGES.length] ?? 1,
    PreferredLanguageId: null,
    NewPassword: null,
    Password: null,
    PasswordSalt: '',
    AvatarFileName: id % 2 === 0 ? `avatar-${id}.png` : null,
    NewAvatarUrl: null,
    ClearAvatarFile: null,
    ApplicationId: null,
    PassportNumber: null,
    PassportCardNumber: null,
    EnablePassportAccess: false,
    Active: id % 10 !== 0,
    IsAdmin: id % 25 === 0,
    APIAccess: id % 5 === 0,
    Validated: id % 3 !== 0,
    MustResetPassword: id % 9 === 0,
    LastAccess: id % 6 === 0 ? null : formatNexudusDate(LAST_ACCESS_ANCHOR_MS - ((id * 7919) % THIRTY_DAYS_S) * 1000),
    Devices: null,
    OnNewEmail: flag('OnNewEmail'),
    OnHelpDeskMsg: flag('OnHelpDeskMsg'),
    OnNewWallPost: flag('OnNewWallPost'),
    OnNewMember: flag('OnNewMember'),
    OnProfileChanges: flag('OnProfileChanges'),
    OnNewBlogComment: flag('OnNewBlogComment'),
    OnNewEventComment: flag('OnNewEventComment'),
    OnTariffChange: flag('OnTariffChange'),
    OnBookingChange: flag('OnBookingChange'),
    OnTentativeBookingChange: flag('OnTentativeBookingChange'),
    OnPurchases: flag('OnPurchases'),
    OnVisitorRegistration: flag('OnVisitorRegistration'),
    OnPlaformInvoices: flag('OnPlaformInvoices'),
    ReceiveCommunityDigest: flag('ReceiveCommunityDigest'),
    ReceiveEveryMessage: flag('ReceiveEveryMessage'),
    TwoFactorEnabled: id % 4 === 0,
    TwoFactorSecret: null,
    EmailCallBackGuid: null,
    Businesses: id % 5 === 0 ? [100 + (id % 3), NEXUDUS_DEMO_SECOND_BUSINESS_ID] : [100 + (id % 3)],
    UserRoles: id % 7 === 0 ? [NEXUDUS_DEMO_ROLE_ID] : [],
    ChatRooms: [],
    DefaultBusinessId: 100 + (id % 3),
    LastHelpVisited: id % 40,
    LastReceivedCommunityThreadDate: null,
    LastReceivedCommunityMessageDate: null,
    NextCommunityDigest: null,
    SupportTeamUserEmail: null,
    InvalidLoginAttempts: id % 11 === 0 ? 2 : 0,
    LastLoginAttempt: null,
    OnAccessControlErrors: flag('OnAccessControlErrors'),
    NextHelpDeskMessageReminder: null,
    OnMemberRemovedFromTeam: flag('OnMemberRemovedFromTeam'),
    OnVirtualOfficeTariffChange: flag('OnVirtualOfficeTariffChange'),
    OnVirtualOfficeDeliveryPreferenceUpdate: flag('OnVirtualOfficeDeliveryPreferenceUpdate'),
    OnIdentityCheckUpdate: flag('OnIdentityCheckUpdate'),
    Id: id,
    UniqueId: demoNexudusUniqueId(id),
    CreatedOn: formatNexudusDate(CREATED_EPOCH_MS + createdS * 1000),
    UpdatedOn: formatNexudusDate(CREATED_EPOCH_MS + updatedS * 1000),
    UpdatedBy: 'admin@coworking.example',
    IsNew: false,
    SystemId: null,
    ToStringText: fullName,
    LocalizationDetails: null,
    CustomFields: null,
  };
}

/** The value the batch endpoint sends for an unpopulated field: the .NET default of its type. */
function emptyValue(field: NexudusPartialField): false | null | 0 | [] {
  switch (field) {
    case 'Businesses':
    case 'UserRoles':
      return [];
    case 'NewPassword':
    case 'LastAccess':
    case 'Devices':
    case 'TwoFactorSecret':
      return null;
    case 'LastHelpVisited':
      return 0;
    default:
      return false;
  }
}

/** `user` as the batch endpoint sends it: every NEXUDUS_PARTIAL_FIELDS field emptied, the rest kept. */
export function partialNexudusUser(user: NexudusApiUser): NexudusApiUser {
  const emptied: Record<string, unknown> = {};
  for (const field of NEXUDUS_PARTIAL_FIELDS) emptied[field] = emptyValue(field);
  return Object.assign({ ...user }, emptied);
}
