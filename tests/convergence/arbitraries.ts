/** fast-check arbitraries for printable network schedules (see harness.ts for what each step does). */
import fc from 'fast-check'
import type { Scenario, Step } from './harness.ts'

export const MAX_REPLICAS = 8

export interface ScheduleShape {
  minReplicas?: number
  maxReplicas?: number
  maxSteps?: number
  /** Events one append step takes at most. */
  maxAppend?: number
  /** Include `attack` steps (only meaningful with a hostile replica). */
  attacks?: boolean
}

const replica = fc.nat(MAX_REPLICAS - 1)

export function stepArb(shape: ScheduleShape = {}): fc.Arbitrary<Step> {
  const steps: fc.WeightedArbitrary<Step>[] = [
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant('append' as const),
        replica,
        count: fc.integer({ min: 1, max: shape.maxAppend ?? 6 }),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 300 }) }),
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
    steps: fc.array(stepArb(shape), { maxLength: shape.maxSteps ?? 40, size: 'max' }),
  })
}
