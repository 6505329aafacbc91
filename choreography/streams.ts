/**
 * The three streams, created or updated idempotently at start:
 * - telemetry: high volume; limits retention by age and size, oldest dropped first;
 * - events: the domain log; file storage, long retention, duplicate window for Nats-Msg-Id;
 * - dead letters: every message a consumer gave up on, with the reason; kept long.
 */
import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import type { Names } from './subjects.ts';

const SECOND_NS = 1_000_000_000;

/** Retention settings; defaults suit one host and are raised per deployment. */
export interface StreamSettings {
  /** @default 1 hour */
  readonly telemetryMaxAgeS: number;
  /** @default 512 MiB */
  readonly telemetryMaxBytes: number;
  /** @default 90 days */
  readonly eventsMaxAgeS: number;
  /** @default 1 GiB */
  readonly eventsMaxBytes: number;
  /** Window in which a repeated Nats-Msg-Id is recognised as a duplicate. @default 10 minutes */
  readonly duplicateWindowS: number;
  /** @default 30 days */
  readonly deadLetterMaxAgeS: number;
}

export const defaultStreamSettings: StreamSettings = {
  telemetryMaxAgeS: 3600,
  telemetryMaxBytes: 512 * 1024 ** 2,
  eventsMaxAgeS: 90 * 86400,
  eventsMaxBytes: 1024 ** 3,
  duplicateWindowS: 600,
  deadLetterMaxAgeS: 30 * 86400,
};

export function streamConfigs(
  n: Names,
  s: StreamSettings = defaultStreamSettings,
): (Partial<StreamConfig> & { name: string })[] {
  const common = {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: 1,
    discard: DiscardPolicy.Old,
  };
  return [
    {
      ...common,
      name: n.streams.telemetry,
      subjects: [n.streamSubjects('telemetry')],
      max_age: s.telemetryMaxAgeS * SECOND_NS,
      max_bytes: s.telemetryMaxBytes,
      duplicate_window: Math.min(60, s.duplicateWindowS) * SECOND_NS,
      description: 'Sentinel telemetry (metrics, logs): high volume, short retention',
    },
    {
      ...common,
      name: n.streams.events,
      subjects: [n.streamSubjects('events')],
      max_age: s.eventsMaxAgeS * SECOND_NS,
      max_bytes: s.eventsMaxBytes,
      duplicate_window: s.duplicateWindowS * SECOND_NS,
      description: 'Sentinel domain events: incidents, analyses, plans, approvals, actions',
    },
    {
      ...common,
      name: n.streams.deadLetter,
      subjects: [n.streamSubjects('deadLetter')],
      max_age: s.deadLetterMaxAgeS * SECOND_NS,
      duplicate_window: s.duplicateWindowS * SECOND_NS,
      description: 'Sentinel dead letters: messages a consumer gave up on, with the reason',
    },
  ];
}

/** Creates each stream, or updates it when it exists with other settings. Safe to call concurrently. */
export async function ensureStreams(jsm: JetStreamManager, n: Names, s?: StreamSettings): Promise<void> {
  for (const cfg of streamConfigs(n, s)) {
    const { name } = cfg;
    try {
      await jsm.streams.info(name);
      await jsm.streams.update(name, cfg);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await jsm.streams.add(cfg);
      } catch (addErr) {
        // Another replica created it between our info and add: fine if it now exists.
        if (!isAlreadyInUse(addErr)) throw addErr;
      }
    }
  }
}

function isNotFound(err: unknown): boolean {
  return (
    err instanceof Error && (err.name === 'StreamNotFoundError' || /stream not found/i.test(err.message))
  );
}

function isAlreadyInUse(err: unknown): boolean {
  return err instanceof JetStreamApiError && /already in use/i.test(err.message);
}

/** Stream settings with the size limits a deployment configured. */
export function streamSettings(maxBytes: {
  readonly events: number;
  readonly telemetry: number;
}): StreamSettings {
  return { ...defaultStreamSettings, eventsMaxBytes: maxBytes.events, telemetryMaxBytes: maxBytes.telemetry };
}
