/**
 * What discovery tells the collector about each replica: where to scrape it,
 * which log file to follow, and the labels to put on what it finds.
 */

/** One replica of the fleet, for discovery. */
export interface FleetTarget {
  readonly service: string;
  /** Replica index within the service; stable across restarts. */
  readonly replica: number;
  /** Stable name of the replica, `<service>-<replica>`: the `instance` label. */
  readonly instance: string;
  /** `http://127.0.0.1:<port>/metrics` of the current (or last) process. */
  readonly metricsUrl: string;
  /** JSON lines (pino) the replica writes; the same file across restarts. */
  readonly logFile: string;
  readonly version: string;
  /** Process id of the current process; null while the replica is down. */
  readonly pid: number | null;
  /** Whether a process of this replica is serving now (false between a crash and its restart). */
  readonly up: boolean;
  /** Times the replica was restarted after dying on its own. */
  readonly restarts: number;
}
