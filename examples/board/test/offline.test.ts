/**
 * An edit made offline merges on reconnect, and the author clock decides conflicting edits of
 * one field: the edit made later wins, whichever reached the relay first. Both members sync
 * peer to peer over WebRTC only (no relay forwarding): the relay keeps no history, so what Ann
 * missed while offline can only come from Ben, over a real RTCPeerConnection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged, meshed, sleep, startWorld, until, type World } from './harness.ts'

let world: World
beforeAll(async () => {
  world = await startWorld()
})
afterAll(async () => {
  await world?.stop()
})

describe('board: offline and back', () => {
  it('merges edits made on both sides while one was offline; the later edit of a field wins', {
    timeout: 120_000,
  }, async () => {
    const ann = await world.open('ann', { fallback: false })
    const ben = await world.open('ben', { fallback: false })
    await meshed([ann, ben])
    const task = await ann.add('plan the trip')
    const other = await ann.add('book the train')
    await converged([ann, ben], 'both tasks on both boards', (s) => s.length === 2)

    await ann.disconnect()
    // Both sides edit the same fields, in this order in time (a few ms apart):
    await ann.update(task, { assignee: 'ann, offline, first' })
    await sleep(20)
    await ben.update(task, { assignee: 'ben, online, later' }) // reaches the relay first
    await ben.update(task, { title: 'ben, online, first' })
    await sleep(20)
    await ann.update(task, { title: 'ann, offline, later' }) // reaches the relay last
    // ... and other things nobody else touches.
    await ann.move(other, { status: 'doing' })
    const annNew = await ann.add('written offline by ann')
    const benNew = await ben.add('written by ben meanwhile')
    expect(await ann.pending(task)).toBe(true) // shown at once, waiting in Ann's outbox
    expect((await ann.state()).find((t) => t.id === task)?.title).toBe('ann, offline, later')

    await ann.connect()
    const final = await converged(
      [ann, ben],
      'both boards to agree after the reconnect',
      (s) => s.length === 4,
    )
    // The author clock: of two edits to one field, the one made later wins.
    expect(final.find((t) => t.id === task)).toMatchObject({
      title: 'ann, offline, later', // made last, sent last
      assignee: 'ben, online, later', // made after Ann's offline edit, though stamped before it
    })
    expect(final.find((t) => t.id === other)?.status).toBe('doing')
    expect(final.map((t) => t.id)).toEqual(expect.arrayContaining([annNew, benNew]))
    await until(async () => !(await ann.pending(task)), "Ann's edits stamped")
    // What Ann missed came from Ben over WebRTC, the only way it could.
    expect(await ann.links()).toEqual(['webrtc'])
  })
})
