/** fast-check arbitraries for printable schedules (see harness.ts for what each step does). */
import fc from 'fast-check'
import type { Scenario, Step } from './harness.ts'

export const MAX_REPLICAS = 8

export interface ScheduleShape {
  minReplicas?: number
  maxReplicas?: number
  /** At least this many steps (the bench wants schedules that leave something to repair). */
  minSteps?: number
  maxSteps?: number
  /** Events one write step makes at most. */
  maxWrite?: number
  /** Include `attack` steps (only meaningful with a hostile node). */
  attacks?: boolean
}

const replica = fc.nat(MAX_REPLICAS - 1)

export function stepArb(shape: ScheduleShape = {}): fc.Arbitrary<Step> {
  const steps: fc.WeightedArbitrary<Step>[] = [
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant('write' as const),
        replica,
        count: fc.integer({ min: 1, max: shape.maxWrite ?? 6 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('inject' as const),
        replica,
        count: fc.integer({ min: 1, max: 4 }),
      }),
    },
    {
      weight: 5,
      // Mostly short; sometimes long enough for catch-ups (0.5 s settle) and anti-entropy to run mid-schedule.
      arbitrary: fc.record({
        op: fc.constant('wait' as const),
        ms: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 300, max: 90_000 })),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('partition' as const),
        groups: fc.array(fc.nat(2), { minLength: MAX_REPLICAS, maxLength: MAX_REPLICAS }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('heal' as const) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('crash' as const), replica }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const), replica }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('relayCrash' as const) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('relayRestart' as const) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('faults' as const),
        loss: fc.constantFrom(0, 0.05, 0.2, 0.5, 1),
        duplicate: fc.constantFrom(0, 0.1, 0.5),
        reorder: fc.constantFrom(0, 0.2, 1),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('sync' as const), replica }) },
  ]
  if (shape.attacks)
    steps.push({
      weight: 2,
      arbitrary: fc.record({ op: fc.constant('attack' as const), variant: fc.nat(255) }),
    })
  return fc.oneof(...steps)
}

export function scenarioArb(shape: ScheduleShape = {}): fc.Arbitrary<Scenario> {
  return fc.record({
    replicas: fc.integer({ min: shape.minReplicas ?? 2, max: shape.maxReplicas ?? MAX_REPLICAS }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    latency: fc
      .record({ min: fc.integer({ min: 0, max: 5 }), spread: fc.integer({ min: 0, max: 60 }) })
      .map(({ min, spread }) => ({ min, max: min + spread })),
    // Mostly real clients; a virtual one stops initiating catch-ups once caught up.
    virtual: fc.array(
      fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      { minLength: MAX_REPLICAS, maxLength: MAX_REPLICAS },
    ),
    steps: fc.array(stepArb(shape), {
      minLength: shape.minSteps ?? 0,
      maxLength: shape.maxSteps ?? 40,
      size: 'max',
    }),
  })
}
