/**
 * Deterministic synthetic Bitrix24 users for the embedded demo and the Bitrix24 emulator.
 * Every field is a pure function of the numeric id (no randomness, no clock), so tests and benchmarks
 * see the same profiles on every run and across processes.
 *
 * Users `1..BITRIX_DEMO_MAX_ID` exist. The data deliberately exercises what the method page
 * (im.user.list.get, revision 19) says a client must handle: date-ish fields that are `false`,
 * `phones` that is `false`, empty strings for "not set", bots and extranet users.
 */
import type { BitrixApiUser, BitrixDate, BitrixPhones } from '../wire.js';

/** Highest known demo user id; ids `1..BITRIX_DEMO_MAX_ID` exist, every other id answers `null`. */
export const BITRIX_DEMO_MAX_ID = 10_000;

const AVATAR_BASE = 'https://cdn.bitrix24.example/avatars';

const POSITIONS = ['Sales Manager', 'Software Engineer', 'Accountant', 'Designer', 'Support Specialist', 'Head of Marketing'];
const STATUSES = ['online', 'offline', 'away', 'dnd'] as const;

/** The portal's time zone: Bitrix24 writes ATOM dates in it (the method page's example uses +03:00). */
const PORTAL_OFFSET_MS = 3 * 3600 * 1000;

/** 2026-11-01T00:00:00+03:00; every demo activity date lies within two weeks before it. */
const ACTIVITY_ANCHOR_MS = Date.UTC(2026, 9, 31, 21, 0, 0);
const TWO_WEEKS_S = 14 * 86_400;

/** Epoch milliseconds → ATOM in the portal's zone, e.g. `2026-10-30T14:05:09+03:00` (whole seconds). */
export function formatBitrixAtom(epochMs: number): string {
  return `${new Date(epochMs + PORTAL_OFFSET_MS).toISOString().slice(0, 19)}+03:00`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** A stable `#rrggbb` per id (Knuth's multiplicative hash spreads neighbouring ids apart). */
function colorFor(id: number): string {
  return `#${((Math.imul(id, 2_654_435_761) >>> 8) & 0xff_ffff).toString(16).padStart(6, '0')}`;
}

function phonesFor(id: number): BitrixPhones | false {
  if (id % 8 === 0) return false;
  return {
    work_phone: id % 3 === 0 ? '' : `+7 495 000-${id}`,
    personal_mobile: id % 2 === 1 ? `+7 916 ${String(id).padStart(7, '0')}` : '',
    personal_phone: '',
  };
}

/**
 * The profile of demo user `id` as `im.user.list.get` returns it. `avatar_hr` is present only when the
 * request asked `AVATAR_HR=Y` (`avatarHr`), and is '' for users without an avatar. Keys come in the
 * order of the method page's example.
 */
export function demoBitrixUser(id: number, avatarHr: boolean): BitrixApiUser {
  const lastActivityMs = ACTIVITY_ANCHOR_MS - ((id * 7_919) % TWO_WEEKS_S) * 1000;
  const at = (offsetS: number): BitrixDate => formatBitrixAtom(lastActivityMs + offsetS * 1000);
  const bot = id % 100 === 0;
  const avatar = id % 6 === 0 ? '' : `${AVATAR_BASE}/${id}.png`;

  return {
    id,
    active: id % 50 !== 0,
    name: `Demo User ${id}`,
    first_name: 'Demo',
    last_name: `User ${id}`,
    work_position: id % 5 === 0 ? '' : (POSITIONS[id % POSITIONS.length] ?? ''),
    color: colorFor(id),
    avatar,
    ...(avatarHr ? { avatar_hr: avatar === '' ? '' : `${AVATAR_BASE}/${id}_hr.png` } : {}),
    gender: (['', 'M', 'F'] as const)[id % 3] ?? '',
    birthday: id % 4 === 0 ? '' : `${pad2(1 + (id % 28))}-${pad2(1 + (id % 12))}`,
    extranet: id % 20 === 0,
    network: false,
    bot,
    connector: false,
    external_auth_id: bot ? 'bot' : 'default',
    status: STATUSES[id % 4] ?? 'offline',
    // The user went idle five minutes after their last action.
    idle: id % 7 === 0 ? at(300) : false,
    last_activity_date: at(0),
    desktop_last_date: id % 3 === 0 ? at(-(id % 7_200)) : false,
    mobile_last_date: id % 2 === 0 ? at(-(id % 3_600)) : false,
    departments: id % 9 === 0 ? [1 + (id % 7), 10] : [1 + (id % 7)],
    // Absent until some day after the anchor.
    absent: id % 11 === 0 ? formatBitrixAtom(ACTIVITY_ANCHOR_MS + (1 + (id % 14)) * 86_400_000) : false,
    phones: phonesFor(id),
  };
}
