import { NAME_SYNTAX, TOKEN_SYNTAX } from '../../credentials/syntax.js';
import type { CallerCredentialSpec } from '../provider.js';
import type { Bitrix24Service } from './client.js';

/**
 * A caller's own Bitrix24 access token (docs/access-control.md, "Per-caller credentials"): the token in
 * `x-caller-bitrix24-token` (BITRIX24_CALLER_TOKEN_HEADER), for the configured portal named in
 * `x-caller-bitrix24-portal` (BITRIX24_CALLER_PORTAL_HEADER), which may be left out when only one portal
 * is configured. Lookups on that portal are made with the token (`auth`), and see what its user may see;
 * lookups on other portals keep the server's credentials. A portal is named by its configured name, never
 * by a host: a caller's token can only ever go to a portal this deployment was configured with.
 */
export const bitrix24CallerCredentials: CallerCredentialSpec<Bitrix24Service> = {
  headers: {
    token: { variable: 'BITRIX24_CALLER_TOKEN_HEADER', defaultName: 'x-caller-bitrix24-token', syntax: TOKEN_SYNTAX },
    portal: { variable: 'BITRIX24_CALLER_PORTAL_HEADER', defaultName: 'x-caller-bitrix24-portal', syntax: NAME_SYNTAX },
  },
  read({ token, portal }, service, names) {
    if (token === undefined) return { problem: `the ${names.portal} header was sent without ${names.token}` };
    if (portal === undefined) {
      if (service.portals.size !== 1)
        return { problem: `several Bitrix24 portals are configured: name the token's portal in ${names.portal}` };
      return new Map([[service.portals.keys().next().value!, token]]);
    }
    // Not echoed: the configured names are this deployment's business, and so is whether a guess is close.
    if (!service.portals.has(portal)) return { problem: `the ${names.portal} header names no configured Bitrix24 portal` };
    return new Map([[portal, token]]);
  },
};
