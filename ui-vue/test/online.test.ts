/**
 * The member list past the relay's presence head (issue #13): the count comes from the joined
 * channel with the most members; below the head nothing changes (no count, no "Show more"); past
 * it "Show more" pages through that channel until the relay says it is done, and a new login
 * starts the pages over.
 */
import type { Session } from '@peerchat/engine'
import { describe, expect, it } from 'vitest'
import { OnlineRoster } from '../src/client/online.ts'

function fakeRelay(counts: Record<string, number>, known: Record<string, number>) {
  const asked: { channel: string; cursor: Uint8Array | null; limit: number }[] = []
  let pages = 0
  const relay = {
    memberCount: (c: string) => counts[c],
    members: (c: string) =>
      new Map<string, Session>(Array.from({ length: known[c] ?? 0 }, (_, i) => [`${i}`, {} as Session])),
    async queryMembers(channel: string, cursor: Uint8Array | null = null, limit = 256) {
      asked.push({ channel, cursor, limit })
      pages++
      known[channel] = (known[channel] ?? 0) + limit
      return { members: [], next: pages < 3 ? Uint8Array.of(pages) : null, count: counts[channel]! }
    },
  }
  return { relay, asked }
}

describe('OnlineRoster', () => {
  it('below the presence head the list is complete: no count, nothing more', () => {
    const { relay } = fakeRelay({ general: 12, dev: 3 }, { general: 12, dev: 3 })
    const o = new OnlineRoster(
      () => relay,
      () => ['general', 'dev'],
    )
    expect(o.count()).toBeUndefined()
    expect(o.more()).toBe(false)
  })

  it('past it: the largest channel counts, and "Show more" pages it until the relay is done', async () => {
    const { relay, asked } = fakeRelay({ general: 5000, dev: 40 }, { general: 101, dev: 40 })
    const o = new OnlineRoster(
      () => relay,
      () => ['dev', 'general'],
    )
    expect(o.count()).toBe(5000)
    expect(o.more()).toBe(true)
    // Two clicks at once load one page.
    const [a, b] = [o.loadMore(), o.loadMore()]
    expect(await a).toBe(true)
    expect(await b).toBe(true)
    expect(await o.loadMore()).toBe(true)
    expect(await o.loadMore()).toBe(false)
    expect(o.more()).toBe(false)
    expect(await o.loadMore()).toBe(false) // done: nothing asked
    expect(asked.map((q) => [q.channel, q.cursor?.[0] ?? null])).toEqual([
      ['general', null],
      ['general', 1],
      ['general', 2],
    ])
    o.reset()
    expect(o.more()).toBe(true)
  })

  it('offline (no relay client) there is nothing to count or load', async () => {
    const o = new OnlineRoster(
      () => undefined,
      () => ['general'],
    )
    expect(o.count()).toBeUndefined()
    expect(await o.loadMore()).toBe(false)
  })
})
