/**
 * Jumping to a message (a search result) with useMessages' `jumpTo`: pages come from the device
 * at once; when it holds nothing older, the client asks peers (history's contract: `complete`
 * false, a `backfill` end when they answered) and the jump waits for them, then sets the target.
 */
import type { StampedEvent, Ulid } from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { fixtureUlid } from '@peerchat/engine/testing'
import { describe, expect, it } from 'vitest'
import { effectScope, ref } from 'vue'
import { encodeBody } from '../src/client/bodies.ts'
import type { ChatClient, ChatClientEvents, HistoryPage, HistoryQuery } from '../src/client/types.ts'
import { createMessages } from '../src/composables/useMessages.ts'

const ANN = new Uint8Array(32).fill(2)
const T0 = Date.UTC(2026, 11, 1)
const event = (i: number): StampedEvent => ({
  id: fixtureUlid(T0 + i * 1000, i),
  ts: T0 + i * 1000,
  channel: 'general',
  kind: Kind.message,
  author: ANN,
  clientNonce: new Uint8Array(16).fill(i & 0xff),
  body: encodeBody({ kind: Kind.message, text: `message ${i}` }),
  authorSig: new Uint8Array(64),
  relaySig: new Uint8Array(64),
})

/**
 * The part of a client useMessages uses, with the history contract: this device holds the newest
 * `held` events; older ones come from a peer in batches of `batch` after a pull.
 */
function client(all: StampedEvent[], held: number, batch: number) {
  let stored = all.slice(-held)
  const listeners = new Map<string, ((v: unknown) => void)[]>()
  const emit = <K extends keyof ChatClientEvents>(type: K, value: ChatClientEvents[K]) => {
    for (const l of listeners.get(type) ?? []) l(value)
  }
  let pulling = false
  let pulls = 0
  const fake = {
    self: new Uint8Array(32).fill(9),
    members: () => [],
    admin: { rolesAt: () => new Set() },
    writes: () => [],
    on(type: string, handler: (v: unknown) => void) {
      listeners.set(type, [...(listeners.get(type) ?? []), handler])
      return () => undefined
    },
    async history(_channel: string, q: HistoryQuery): Promise<HistoryPage> {
      const older = stored.filter((e) => q.before === undefined || e.id < q.before)
      const events = older.slice(-q.limit)
      const oldestHeld = stored[0]!
      const complete = oldestHeld.id === all[0]!.id && events.length < q.limit
      if (!complete && events.length < q.limit && !pulling) {
        pulling = true
        pulls++
        emit('backfill', { channel: 'general', active: true })
        setTimeout(() => {
          const at = all.findIndex((e) => e.id === stored[0]!.id)
          const got = all.slice(Math.max(0, at - batch), at)
          stored = [...got, ...stored]
          pulling = false
          emit('backfill', { channel: 'general', active: false })
        }, 5)
      }
      return { events, complete }
    },
  }
  return { client: fake as unknown as ChatClient, pulls: () => pulls, stored: () => stored }
}

function messagesOf(c: ChatClient, pages: { firstPage: number; olderPage: number }) {
  const scope = effectScope()
  const state = scope.run(() => createMessages(c, ref('general'), pages))!
  return { state, stop: () => scope.stop() }
}

describe('jumpTo', () => {
  const all = Array.from({ length: 300 }, (_, i) => event(i))

  it('loads pages back to a stored message and targets it', async () => {
    const fake = client(all, 300, 0)
    const { state, stop } = messagesOf(fake.client, { firstPage: 20, olderPage: 30 })
    expect(await state.jumpTo('general', all[100]!.id)).toBe(true)
    expect(state.target.value).toEqual({ channel: 'general', id: all[100]!.id })
    expect(state.get(all[100]!.id)?.text).toBe('message 100')
    expect(fake.pulls()).toBe(0)
    stop()
  })

  it('waits for peers when the device holds nothing that old, then targets it', async () => {
    const fake = client(all, 50, 40)
    const { state, stop } = messagesOf(fake.client, { firstPage: 20, olderPage: 30 })
    expect(await state.jumpTo('general', all[10]!.id)).toBe(true)
    expect(state.get(all[10]!.id)?.text).toBe('message 10')
    expect(fake.pulls()).toBeGreaterThanOrEqual(6) // 250 events older than the 50 held, 40 a pull
    stop()
  })

  it('says so when the message is nowhere (the channel start was reached)', async () => {
    const fake = client(all, 300, 0)
    const { state, stop } = messagesOf(fake.client, { firstPage: 100, olderPage: 100 })
    const missing = fixtureUlid(T0 - 5_000, 7) as Ulid
    expect(await state.jumpTo('general', missing)).toBe(false)
    expect(state.error.value).toMatch(/could not be found/)
    expect(state.target.value).toBe(null)
    stop()
  })
})
