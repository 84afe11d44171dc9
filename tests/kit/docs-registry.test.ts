/**
 * DocRegistry on the real Replica and the memory relay: one subscription per channel routes
 * `yjs` events to documents by name; lazy opening from the buffer or the log; the open-document
 * bound; local-first publishing.
 */
import {
  type DocHandle,
  DocRegistry,
  type DocRegistryOptions,
  encodeYjs,
  YJS_KIND,
} from '@peerchat/engine/docs'
import { describe, expect, it } from 'vitest'
import { world } from './world.ts'

const CHANNEL = 'team'

/** Peers that each hold a DocRegistry of the channel; `settle` also waits for every registry. */
async function docs() {
  const w = await world()
  const registries: DocRegistry[] = []
  const peer = async (options: DocRegistryOptions = {}) => {
    const p = await w.peer()
    const registry = await DocRegistry.open(p.replica, CHANNEL, { doc: { batchMs: 60_000 }, ...options })
    registries.push(registry)
    w.onStop(() => registry.close())
    return { ...p, registry }
  }
  /** Lets the relay stamp and fan out, then every registry finish applying. */
  const settle = async () => {
    await w.clock.advance(100)
    for (const r of registries) await r.settled()
  }
  return { ...w, peer, settle }
}

async function edit(handle: DocHandle, text: string): Promise<void> {
  const t = handle.doc.getText('t')
  t.insert(t.length, text)
  await handle.flush()
}

const text = (handle: DocHandle) => handle.doc.getText('t').toString()

describe('DocRegistry', () => {
  it('publishes local-first through the replica and routes updates to the right documents', async () => {
    const w = await docs()
    const a = await w.peer()
    const b = await w.peer()
    const notes = await a.registry.get('notes')
    const todo = await a.registry.get('todo')
    await edit(notes, 'hello')
    await edit(todo, 'buy milk')
    expect(a.replica.writes(CHANNEL).map((x) => x.request.kind)).toEqual([YJS_KIND, YJS_KIND]) // pending
    const bNotes = await b.registry.get('notes')
    await w.settle()
    expect(text(bNotes)).toBe('hello')
    expect(b.registry.opened()).toEqual(['notes'])
    expect(b.registry.known()).toEqual(['notes', 'todo'])
    expect(b.registry.stats.buffered).toBe(1) // todo's update waits for a `get`
    const bTodo = await b.registry.get('todo')
    expect(text(bTodo)).toBe('buy milk')
    expect(b.registry.stats.logReads).toBe(0)
    // The author's own stamped echo is recorded in its history.
    expect(notes.history().map((h) => h.author)).toHaveLength(1)
    expect(a.replica.writes(CHANNEL)).toEqual([])
    await edit(bNotes, ', world')
    await w.settle()
    expect(text(notes)).toBe('hello, world')
    expect(await a.registry.get('notes')).toBe(notes) // the same handle while open
    await w.stop()
  })

  it("'ignore' keeps nothing for unopened documents and reads the log when one is opened", async () => {
    const w = await docs()
    const a = await w.peer()
    const b = await w.peer({ unopened: 'ignore' })
    await edit(await a.registry.get('notes'), 'from the log')
    await w.settle()
    expect(b.registry.stats.buffered).toBe(0)
    const notes = await b.registry.get('notes')
    expect(text(notes)).toBe('from the log')
    expect(b.registry.stats.logReads).toBe(1)
    await w.stop()
  })

  it('reads the log for documents whose buffer went over budget', async () => {
    const w = await docs()
    const a = await w.peer()
    const b = await w.peer({ maxBufferedBytes: 60 })
    await edit(await a.registry.get('big'), 'x'.repeat(100))
    await edit(await a.registry.get('small'), 'y')
    await w.settle()
    expect(b.registry.stats.buffered).toBe(2)
    expect(text(await b.registry.get('small'))).toBe('y')
    expect(b.registry.stats.logReads).toBe(0)
    expect(text(await b.registry.get('big'))).toBe('x'.repeat(100))
    expect(b.registry.stats.logReads).toBe(1)
    await w.stop()
  })

  it('keeps at most maxOpen documents, closing the least recently used, and reopens from the log', async () => {
    const w = await docs()
    const evicted: string[] = []
    const a = await w.peer({ maxOpen: 2, onEvict: (name) => evicted.push(name) })
    const one = await a.registry.get('one')
    await edit(one, '1')
    await a.registry.get('two')
    await a.registry.get('one') // `one` is now the most recently used
    const three = await a.registry.get('three')
    expect(evicted).toEqual(['two'])
    expect(a.registry.opened()).toEqual(['one', 'three'])
    await edit(three, '3')
    await w.settle()
    await a.registry.get('two')
    expect(evicted).toEqual(['two', 'one'])
    expect(a.registry.peek('one')).toBeUndefined()
    const again = await a.registry.get('one')
    expect(again).not.toBe(one)
    expect(text(again)).toBe('1')
    expect(a.registry.stats.logReads).toBe(2) // `two`, then `one`: each was closed, so read again
    expect(evicted).toEqual(['two', 'one', 'three'])
    expect(a.registry.opened()).toEqual(['two', 'one'])
    await a.registry.release('two')
    expect(a.registry.opened()).toEqual(['one'])
    await w.stop()
  })

  it('drops malformed yjs bodies, refuses bad names and closes once', async () => {
    const w = await docs()
    const rejected: string[] = []
    const a = await w.peer()
    const b = await w.peer({ onRejected: (name, r) => rejected.push(`${name}:${r.map((x) => x.reason)}`) })
    await a.replica.write(CHANNEL, YJS_KIND, new Uint8Array([1, 2, 3]))
    await a.replica.write(CHANNEL, YJS_KIND, encodeYjs({ doc: 'junk', update: new Uint8Array([0, 0, 0, 9]) }))
    await w.settle()
    expect(b.registry.stats.malformed).toBe(1)
    await b.registry.get('junk')
    await b.registry.settled()
    expect(rejected).toHaveLength(1)
    expect(rejected[0]).toMatch(/^junk:/)
    await expect(a.registry.get('Not Valid')).rejects.toThrow(RangeError)
    await a.registry.close()
    await a.registry.close()
    await expect(a.registry.get('notes')).rejects.toThrow(/closed/)
    await w.stop()
  })
})
