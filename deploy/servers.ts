/** The four servers of the stack, by kind. */
import { etcdServer } from './etcd-server.ts';
import { natsServer } from './nats-server.ts';
import { postgresServer } from './postgres-server.ts';
import { redisServer } from './redis-server.ts';
import type { ServerDefinition, ServerKind } from './server-definition.ts';

/** Every server definition, keyed by kind. */
export const servers: Readonly<Record<ServerKind, ServerDefinition>> = {
  nats: natsServer,
  etcd: etcdServer,
  redis: redisServer,
  postgres: postgresServer,
};
