import { Client, fetchExchange } from '@urql/core';
import { cacheExchange } from '@urql/exchange-graphcache';
// src/generated/client/urql-graphcache.ts of users-subgraph, copied next to this file (or generated here by `npm run codegen`).
import { keys, possibleTypes, resolvers } from './urql-graphcache';

export const client = new Client({
  url: '/graphql',
  exchanges: [
    // keys: each entity keyed as its @key says (a Bitrix24User by portal and id, not id alone).
    // possibleTypes: a fragment on the users' interface matches each user type for certain, not by guesswork.
    // resolvers: a lookup with one user missing keeps the others (null at the missing one's index) instead of data: null.
    cacheExchange({ keys, possibleTypes, resolvers }),
    fetchExchange,
  ],
  // POST queries: urql sends GET by default, which CSRF prevention (Apollo Server, Apollo Router) refuses without a preflight header.
  preferGetMethod: false,
});
