/**
 * The local stack of real servers (NATS, etcd, Redis, PostgreSQL): what the
 * CLI's `stack` commands and the integration tests may use.
 */
export { StackError, StackErrorCode } from './errors.ts';
export { stackUp, stackDown, stackStatus } from './stack.ts';
export { startEtcd } from './etcd-instance.ts';
export { silentLog } from './log.ts';
export { serverKinds, serverPaths } from './server-definition.ts';
export { natsMonitorPort, etcdPeerPort, portOf } from './ports.ts';
export { natsAuthPaths, readAccountSigningSeed } from './nats-auth.ts';
export { ensureInstalled } from './install.ts';
export type { InstallOptions, PackageNeed } from './install.ts';

export type { StackErrorOptions } from './errors.ts';
export type { StackUpOptions, ServerStatus, ServerUpResult, ServerDownResult } from './stack.ts';
export type { EtcdInstance, EtcdInstanceOptions } from './etcd-instance.ts';
export type { StackLog } from './log.ts';
export type { ServerKind, ServerPaths } from './server-definition.ts';
export { swarmUp, swarmDown, swarmStatus } from './swarm.ts';
export { Supervisor } from './supervisor.ts';
export type { SwarmStatus } from './swarm.ts';
export type { ChildSpec, SupervisedChild } from './supervisor.ts';
