/** Two reconcilers in one process (tests, benchmarks, merging two local logs): run to the end. */
import type { Reconciler } from './reconciler.ts'

/** Frames exchanged in one in-process run before it is declared stuck. */
export const MAX_LOCAL_FRAMES = 100_000

export interface LocalRun {
  /** Size of each frame in order; even indices come from the initiator. */
  frames: number[]
  bytes: number
}

export async function reconcileLocally(initiator: Reconciler, responder: Reconciler): Promise<LocalRun> {
  const frames: number[] = []
  let bytes = 0
  let msg: Uint8Array | null = await initiator.initiate()
  for (let turn = 1; msg; turn ^= 1) {
    if (frames.length >= MAX_LOCAL_FRAMES)
      throw new Error(`reconciliation did not end in ${MAX_LOCAL_FRAMES} frames`)
    frames.push(msg.length)
    bytes += msg.length
    const result = await (turn ? responder : initiator).receive(msg)
    if (!result.reply && !result.done) throw new Error('a reconciler sent nothing but is not done')
    msg = result.reply
  }
  return { frames, bytes }
}
