/**
 * The encrypted groups' vault and the search index store on fake-indexeddb: what is kept
 * survives a reopen; a group's state and its plaintexts are written together; a channel's
 * plaintexts page by id; forgetting a group leaves the others.
 */
import 'fake-indexeddb/auto'
import type { PlainEvent } from '@peerchat/engine/mls'
import { afterEach, describe, expect, it } from 'vitest'
import { MlsVault, SearchIndexStore } from '../src/index.ts'

const closers: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c.close()
})
let n = 0
const community = () => ({ relayKey: new Uint8Array(32).fill(++n) })
const plain = (i: number, text: string): PlainEvent => ({
  id: `01J${String(i).padStart(23, '0')}`,
  kind: 'message',
  author: new Uint8Array(32).fill(7),
  body: new TextEncoder().encode(text),
})
const opened = async <T extends { close(): Promise<void> }>(p: Promise<T>): Promise<T> => {
  const v = await p
  closers.push(v)
  return v
}

describe('MlsVault', () => {
  it('keeps the device, group states and plaintexts across a reopen', async () => {
    const where = community()
    const vault = await opened(MlsVault.open(where))
    expect(await vault.loadDevice('ann')).toBeUndefined()
    await vault.saveDevice('ann', Uint8Array.of(1, 2, 3))
    await vault.commit('mls.aa', {
      group: Uint8Array.of(9),
      meta: Uint8Array.of(4),
      plain: [plain(1, 'one'), plain(2, 'two')],
    })
    await vault.commit('mls.aa', { plain: [plain(3, 'three')] })
    await vault.commit('mls.bb', {
      group: Uint8Array.of(8),
      meta: Uint8Array.of(5),
      plain: [plain(1, 'elsewhere')],
    })
    await vault.close()

    const again = await opened(MlsVault.open(where))
    expect(await again.loadDevice('ann')).toEqual(Uint8Array.of(1, 2, 3))
    expect(await again.loadGroup('mls.aa')).toEqual({ group: Uint8Array.of(9), meta: Uint8Array.of(4) })
    expect((await again.groups()).sort()).toEqual(['mls.aa', 'mls.bb'])
    const texts = (es: PlainEvent[]) => es.map((e) => new TextDecoder().decode(e.body))
    expect(texts(await again.plain('mls.aa'))).toEqual(['one', 'two', 'three'])
    expect(texts(await again.plain('mls.aa', { reverse: true, limit: 2 }))).toEqual(['three', 'two'])
    expect(texts(await again.plain('mls.aa', { lt: plain(3, '').id }))).toEqual(['one', 'two'])
    expect((await again.plain('mls.aa'))[0]!.author).toEqual(new Uint8Array(32).fill(7))

    await again.forget('mls.aa')
    expect(await again.loadGroup('mls.aa')).toEqual({})
    expect(await again.groups()).toEqual(['mls.bb'])
    expect(await again.plain('mls.aa')).toEqual([])
    expect(texts(await again.plain('mls.bb'))).toEqual(['elsewhere'])
  })
})

describe('SearchIndexStore', () => {
  it('puts and deletes strings in one write, and reads them all back after a reopen', async () => {
    const where = community()
    const store = await opened(SearchIndexStore.open(where))
    await store.write(
      new Map([
        ['meta', '{}'],
        ['2026-11', 'nov'],
        ['2026-12', 'dec'],
      ]),
    )
    await store.write(
      new Map([
        ['2026-11', undefined],
        ['2026-12', 'dec2'],
      ]),
    )
    await store.close()
    const again = await opened(SearchIndexStore.open(where))
    expect(await again.readAll()).toEqual(
      new Map([
        ['meta', '{}'],
        ['2026-12', 'dec2'],
      ]),
    )
  })
})
