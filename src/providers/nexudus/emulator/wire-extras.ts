/**
 * The parts of Nexudus's wire format that only the emulator needs: the whole user record as Nexudus
 * sends it (the client reads only the fields it maps, `NexudusUserRecord` in ../wire.ts), which fields
 * the batch endpoint leaves unpopulated, and the token and error bodies the emulator writes.
 *
 * The record's field list and order follow the "Get one User" page
 * (learn.nexudus.com/rest-api/sys/get-users-by-id), plus the trailing fields of the batch page's example
 * (ToStringText, LocalizationDetails, CustomFields).
 *
 * Fields in NEXUDUS_PARTIAL_FIELDS are optional in the type: the batch endpoint does not populate them.
 * One revision of the batch page shows them at their defaults (false / null / []), another leaves them
 * out of the example entirely, so a client must treat "absent" and "default" alike, i.e. never trust
 * them from the batch endpoint. The emulator sends the defaults.
 */

/** `Language`: Nexudus' eLanguage enum (the Users pages list 1 EnglishUS, 2 Spanish, 3 EnglishUK). */
export type NexudusLanguage = number;

export interface NexudusApiUser {
  FullName: string;
  Email: string;
  /** Write/credential fields: present on the wire, always null (or '') in what the emulator sends. */
  AccessToken?: string | null;
  Language: NexudusLanguage;
  PreferredLanguageId?: number | null;
  NewPassword?: string | null;
  Password?: string | null;
  PasswordSalt?: string | null;
  /** The stored avatar's file name, or null. */
  AvatarFileName: string | null;
  /** Write-only upload URL in practice (null when read). */
  NewAvatarUrl: string | null;
  ClearAvatarFile?: boolean | null;
  ApplicationId?: number | null;
  PassportNumber?: string | null;
  PassportCardNumber?: string | null;
  EnablePassportAccess?: boolean;
  Active: boolean;
  IsAdmin?: boolean;
  APIAccess?: boolean;
  Validated: boolean;
  MustResetPassword?: boolean;
  /** ISO date, or null when the user never signed in. */
  LastAccess?: string | null;
  Devices?: string | null;
  OnNewEmail?: boolean;
  OnHelpDeskMsg?: boolean;
  OnNewWallPost?: boolean;
  OnNewMember?: boolean;
  OnProfileChanges?: boolean;
  OnNewBlogComment?: boolean;
  OnNewEventComment?: boolean;
  OnTariffChange?: boolean;
  OnBookingChange?: boolean;
  OnTentativeBookingChange?: boolean;
  OnPurchases?: boolean;
  OnVisitorRegistration?: boolean;
  /** Sic: Nexudus spells it "Plaform". */
  OnPlaformInvoices?: boolean;
  ReceiveCommunityDigest?: boolean;
  ReceiveEveryMessage?: boolean;
  TwoFactorEnabled: boolean;
  TwoFactorSecret?: string | null;
  EmailCallBackGuid?: string | null;
  /** Ids of the locations (businesses) the user belongs to. Empty in partial records. */
  Businesses: number[];
  /**
   * Ids of the UserRole groups (`/api/security/userroles`) assigned to the user. Both revisions of the
   * "Get one User" page show `"UserRoles": [123]`, i.e. plain integer ids, not `{Id, Name}` objects; a
   * role's name needs a separate lookup. Empty in partial records.
   */
  UserRoles: number[];
  ChatRooms?: number[];
  DefaultBusinessId: number | null;
  LastHelpVisited?: number | null;
  LastReceivedCommunityThreadDate?: string | null;
  LastReceivedCommunityMessageDate?: string | null;
  NextCommunityDigest?: string | null;
  SupportTeamUserEmail?: string | null;
  InvalidLoginAttempts?: number;
  LastLoginAttempt?: string | null;
  OnAccessControlErrors?: boolean;
  NextHelpDeskMessageReminder?: string | null;
  OnMemberRemovedFromTeam?: boolean;
  OnVirtualOfficeTariffChange?: boolean;
  OnVirtualOfficeDeliveryPreferenceUpdate?: boolean;
  OnIdentityCheckUpdate?: boolean;
  Id: number;
  /** A GUID, e.g. `a1b2c3d4-e5f6-7890-abcd-ef1234567890`. */
  UniqueId: string;
  CreatedOn: string;
  UpdatedOn: string;
  /** Who last changed the record (an e-mail address in the examples). */
  UpdatedBy: string | null;
  IsNew?: boolean;
  SystemId?: string | null;
  /** The record's display text (the user's name). */
  ToStringText: string;
  LocalizationDetails?: unknown;
  CustomFields?: unknown;
}

/** The notification settings of a user, in wire order: none of them comes with the batch endpoint. */
export const NEXUDUS_NOTIFICATION_FIELDS = [
  'OnNewEmail',
  'OnHelpDeskMsg',
  'OnNewWallPost',
  'OnNewMember',
  'OnProfileChanges',
  'OnNewBlogComment',
  'OnNewEventComment',
  'OnTariffChange',
  'OnBookingChange',
  'OnTentativeBookingChange',
  'OnPurchases',
  'OnVisitorRegistration',
  'OnPlaformInvoices',
  'ReceiveCommunityDigest',
  'ReceiveEveryMessage',
  'OnAccessControlErrors',
  'OnMemberRemovedFromTeam',
  'OnVirtualOfficeTariffChange',
  'OnVirtualOfficeDeliveryPreferenceUpdate',
  'OnIdentityCheckUpdate',
] as const satisfies readonly (keyof NexudusApiUser)[];

/**
 * Fields `GET /api/sys/users/?id=[..]` leaves unpopulated: the warning list of the "Get Users by Id"
 * page (the notification settings among them), plus Businesses and UserRoles (that page's examples
 * show them as `[]`).
 */
export const NEXUDUS_PARTIAL_FIELDS = [
  'NewPassword',
  'IsAdmin',
  'APIAccess',
  'MustResetPassword',
  'LastAccess',
  'Devices',
  'TwoFactorSecret',
  'LastHelpVisited',
  ...NEXUDUS_NOTIFICATION_FIELDS,
  'Businesses',
  'UserRoles',
] as const satisfies readonly (keyof NexudusApiUser)[];

export type NexudusPartialField = (typeof NEXUDUS_PARTIAL_FIELDS)[number];

/** `POST /api/token` success (an OWIN OAuth authorization server). */
export interface NexudusTokenResponse {
  access_token: string;
  token_type: 'bearer';
  /** Seconds; 604799 (7 days less a second) on the real service. */
  expires_in: number;
  refresh_token: string;
}

/** `POST /api/token` failure (HTTP 400): `invalid_grant`, `unsupported_grant_type`, ... */
export interface NexudusTokenError {
  error: string;
  error_description?: string;
}

/** ASP.NET Web API error body (401, 400, 404, 405, 500): `{"Message": "..."}`. */
export interface NexudusApiMessage {
  Message: string;
}
