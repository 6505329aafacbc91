/**
 * The live stream (`GET /v1/stream`, Server-Sent Events): its routes, the
 * per-process hub that fans the events stream out to every client, and its
 * metrics. The gateway app mounts {@link streamRoutes} at `/v1/stream`.
 */
export { StreamHub } from './hub.ts';
export { streamClients, streamClientsCut, streamEventsDelivered, streamInvalidEvents } from './metrics.ts';
export { streamRoutes } from './routes.ts';

export type { Joined, JoinOptions, StreamHubOptions } from './hub.ts';
export type { StreamFilter } from './filter.ts';
export type { StreamDeps } from './routes.ts';
export type { EndReason, SubscriberHooks, SubscriberLimits } from './subscriber.ts';
