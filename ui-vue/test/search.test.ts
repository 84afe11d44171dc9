/** LocalSearch (client/search.ts): reads what it has not seen, keeps changes, persists, reads again only what changed. */
import type { Change, IdRange, StampedEvent, Ulid } from '@peerchat/engine'
import { Kind, noRoles } from '@peerchat/engine/chat'
import { fixtureUlid } from '@peerchat/engine/testing'
import { describe, expect, it } from 'vitest'
import { encodeBody } from '../src/client/bodies.ts'
import { LocalSearch, READ_SLICE, type SearchLog, type SearchStorage } from '../src/client/search.ts'
import type { SearchProgress } from '../src/client/types.ts'

const ANN = new Uint8Array(32).fill(2)
const T0 = Date.UTC(2026, 11, 1)
let n = 0

function say(channel: string, text: string): StampedEvent {
  n++
  return {
    id: fixtureUlid(T0 + n * 1000, n),
    ts: T0 + n * 1000,
    channel,
    kind: Kind.message,
    author: ANN,
    clientNonce: new Uint8Array(16).fill(n & 0xff),
    body: encodeBody({ kind: Kind.message, text }),
    authorSig: new Uint8Array(64),
    relaySig: new Uint8Array(64),
  }
}

/** Channel logs as sorted arrays, counting the events read. */
class Logs {
  readonly events = new Map<string, StampedEvent[]>()
  read = 0
  add(...events: StampedEvent[]): void {
    for (const e of events) {
      const list = this.events.get(e.channel) ?? []
      list.push(e)
      list.sort((a, b) => (a.id < b.id ? -1 : 1))
      this.events.set(e.channel, list)
    }
  }
  log(channel: string): SearchLog {
    return {
      count: async () => this.events.get(channel)?.length ?? 0,
      range: async (r: IdRange, o: { limit: number }) => {
        const out = (this.events.get(channel) ?? [])
          .filter((e) => (r.gte === undefined || e.id >= r.gte) && (r.lt === undefined || e.id < r.lt))
          .slice(0, o.limit)
        this.read += out.length
        return out
      },
    }
  }
}

class Saved implements SearchStorage {
  readonly map = new Map<string, string>()
  writes = 0
  async readAll() {
    return new Map(this.map)
  }
  async write(changes: Map<string, string | undefined>) {
    this.writes++
    for (const [k, v] of changes)
      if (v === undefined) this.map.delete(k)
      else this.map.set(k, v)
  }
}

const names = { keysOf: () => new Set<string>(), nameOf: () => undefined }

function open(logs: Logs, saved: Saved | undefined, extra: { after?: Promise<unknown> } = {}) {
  const progress: SearchProgress[] = []
  const search = new LocalSearch({
    roles: noRoles,
    names,
    channels: () => [...logs.events.keys()],
    log: (c) => logs.log(c),
    ...(saved ? { storage: async () => saved } : {}),
    persistMs: 10,
    onProgress: (p) => progress.push(p),
    ...extra,
  })
  return { search, progress }
}

const texts = (s: LocalSearch, q: string) => s.search(q).hits.map((h) => h.doc.text)
const change = (channel: string, added: StampedEvent[], replaced: Ulid[] = []): Change =>
  ({ channel, added, replaced, writes: [], source: { via: 'relay' } }) as unknown as Change

describe('LocalSearch', () => {
  it('reads every channel it has not seen, in slices with progress, then answers', async () => {
    const logs = new Logs()
    logs.add(...Array.from({ length: READ_SLICE + 20 }, (_, i) => say('general', `note ${i}`)))
    logs.add(say('random', 'a note elsewhere'))
    const { search, progress } = open(logs, undefined)
    await search.ready
    expect(search.search('note').hits).toHaveLength(50)
    expect(search.search('note').more).toBe(true)
    expect(texts(search, 'elsewhere')).toEqual(['a note elsewhere'])
    const reads = progress.filter((p) => p.read).map((p) => p.read!)
    expect(reads.at(-1)).toEqual({ done: READ_SLICE + 21, total: READ_SLICE + 21 })
    expect(reads.length).toBeGreaterThanOrEqual(3)
    expect(progress.at(-1)).toEqual({ indexed: READ_SLICE + 21, busy: false })
  })

  it('keeps what changes before it has loaded, and folds changes as they come', async () => {
    const logs = new Logs()
    let go!: () => void
    const after = new Promise<void>((resolve) => {
      go = resolve
    })
    const { search } = open(logs, undefined, { after })
    const early = say('general', 'arrived while loading')
    logs.add(early)
    search.changed(change('general', [early]))
    expect(search.progress().busy).toBe(true)
    go()
    await search.ready
    expect(texts(search, 'arrived')).toEqual(['arrived while loading'])
    const late = say('general', 'arrived later')
    logs.add(late)
    search.changed(change('general', [late]))
    expect(texts(search, 'arrived')).toEqual(['arrived later', 'arrived while loading'])
    search.changed(change('general', [], [late.id]))
    expect(texts(search, 'arrived')).toEqual(['arrived while loading'])
  })

  it('persists: a reload with nothing new reads no event; a channel that changed meanwhile is read again', async () => {
    const logs = new Logs()
    logs.add(say('general', 'kept across reloads'), say('random', 'also kept'))
    const saved = new Saved()
    const first = open(logs, saved).search
    await first.ready
    await first.stop()
    expect(saved.map.has('meta')).toBe(true)

    logs.read = 0
    const second = open(logs, saved).search
    await second.ready
    expect(logs.read).toBe(0)
    expect(texts(second, 'kept')).toEqual(['also kept', 'kept across reloads'])
    await second.stop()

    // Random got a message while no page was open (another tab, a sync): only it is read.
    logs.add(say('random', 'came while closed'))
    logs.read = 0
    const third = open(logs, saved).search
    await third.ready
    expect(logs.read).toBe(2)
    expect(texts(third, 'came')).toEqual(['came while closed'])
    await third.stop()
  })

  it('writes changes a moment after them, not one write per event', async () => {
    const logs = new Logs()
    const saved = new Saved()
    const { search } = open(logs, saved)
    await search.ready
    const before = saved.writes
    for (let i = 0; i < 20; i++) {
      const e = say('general', `burst ${i}`)
      logs.add(e)
      search.changed(change('general', [e]))
    }
    await expect.poll(() => saved.writes).toBe(before + 1)
    expect(JSON.parse(saved.map.get('meta')!).counts).toEqual({ general: 20 })
    await search.stop()
  })
})
