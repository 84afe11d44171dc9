/** The simulation's seeded stream: the engine's `SeededRandom`, so a simulated network replays the same way for the same seed. */
import { seededUniform } from '@peerchat/engine'

export type Random = () => number

export const seededRandom = (seed: number): Random => seededUniform(seed >>> 0)

export const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!

/** Random bytes from the seeded stream (nonces and ULID entropy in the simulation). */
export function randomBytesFrom(random: Random, n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256)
  return out
}
