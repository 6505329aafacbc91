/**
 * The lifecycle of one telemetry partition in a detector replica: `warming`
 * while its recent past is replayed into the detector, `live` while its
 * durable consumer runs, `released` once ownership ended (lost, given up for
 * balance, or the replica stopping). Released is final: taking the partition
 * again starts a new lifecycle with fresh state.
 */
import { assign, setup } from 'xstate';

export type PartitionEvent =
  | { readonly type: 'warmed'; readonly replayed: number }
  | { readonly type: 'consuming' }
  | { readonly type: 'released'; readonly reason: string };

export interface PartitionContext {
  readonly partition: number;
  readonly replayed: number;
  readonly releasedBecause: string | null;
}

export const partitionMachine = setup({
  types: {
    context: {} as PartitionContext,
    events: {} as PartitionEvent,
    input: {} as { partition: number },
  },
}).createMachine({
  id: 'partition',
  initial: 'warming',
  context: ({ input }) => ({ partition: input.partition, replayed: 0, releasedBecause: null }),
  on: {
    released: { target: '.released', actions: assign({ releasedBecause: ({ event }) => event.reason }) },
  },
  states: {
    warming: {
      on: {
        warmed: { actions: assign({ replayed: ({ event }) => event.replayed }) },
        consuming: 'live',
      },
    },
    live: {},
    released: { type: 'final' },
  },
});
