'use strict';
// The stack floors (bench/stack-floor.js): the floor's requests and statements served by NestJS,
// on each of its HTTP adapters, with the request's transaction opened through MikroORM (as the
// design prescribes) or on a plain `pg` pool. `letter` names the scenarios (G1, G2, G4, …).
const STACKS = [
  { letter: 'G', name: 'stack-floor', label: 'NestJS + MikroORM', driver: 'mikro-orm', adapter: 'express' },
  { letter: 'N', name: 'nest-floor', label: 'NestJS + pg', driver: 'pg', adapter: 'express' },
  { letter: 'H', name: 'fastify-stack-floor', label: 'NestJS on Fastify + MikroORM', driver: 'mikro-orm', adapter: 'fastify' },
  { letter: 'P', name: 'fastify-nest-floor', label: 'NestJS on Fastify + pg', driver: 'pg', adapter: 'fastify' },
];

module.exports = { STACKS };
