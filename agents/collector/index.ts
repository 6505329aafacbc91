/**
 * The collector's parts: parsing and scraping Prometheus endpoints, and
 * following logs. The collector process that discovers targets and publishes
 * telemetry comes with the fleet (issue 4).
 */
export { defaultExpositionLimits, ExpositionError, parseExposition } from './exposition.ts';
export { LogFollower, MAX_LINE } from './log-follower.ts';
export { scrape } from './scrape.ts';

export type { Dropped, ExpositionLimits, ParsedExposition } from './exposition.ts';
export type { LogLine } from './log-follower.ts';
export type { ScrapeOptions, ScrapeResult } from './scrape.ts';
