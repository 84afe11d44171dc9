/** What a return shows in its first frame (remembered.ts): read markers and last-known names in localStorage. */
import type { Ulid } from '@peerchat/engine'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { KeyValueStorage } from '../src/client/communities.ts'
import {
  NAMES_REMEMBERED_MAX,
  NAMES_SAVE_DELAY_MS,
  NAMES_STORAGE_KEY,
  READ_MARKERS_STORAGE_KEY,
  Remembered,
} from '../src/client/remembered.ts'

const A = '01JAAAAAAAAAAAAAAAAAAAAAAA' as Ulid
const B = '01JBBBBBBBBBBBBBBBBBBBBBBB' as Ulid

function memoryStorage(): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map<string, string>()
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) }
}

afterEach(() => vi.useRealTimers())

describe('Remembered', () => {
  it('keeps read markers per identity and community, and never moves one back', () => {
    const storage = memoryStorage()
    const ann = new Remembered(storage, 'ann', 'relay1')
    ann.markRead('general', B)
    ann.markRead('general', A) // older: ignored
    expect(ann.markers()).toEqual(new Map([['general', B]]))
    expect(new Remembered(storage, 'ann', 'relay2').markers().size).toBe(0)
    expect(new Remembered(storage, 'bob', 'relay1').markers().size).toBe(0)
  })

  it("merges with another tab's markers instead of overwriting them", () => {
    const storage = memoryStorage()
    const one = new Remembered(storage, 'ann', 'relay1')
    const two = new Remembered(storage, 'ann', 'relay1')
    one.markRead('general', A)
    two.markRead('random', B)
    expect(one.markers()).toEqual(
      new Map([
        ['general', A],
        ['random', B],
      ]),
    )
  })

  it('ignores what does not parse or is not a ULID (hand-edited or older data)', () => {
    const storage = memoryStorage()
    storage.setItem(
      `${READ_MARKERS_STORAGE_KEY}:ann@relay1`,
      '{"general":"nope","random":42,"ok":"' + A + '"}',
    )
    storage.setItem(`${NAMES_STORAGE_KEY}:relay1`, '[1,2]')
    const r = new Remembered(storage, 'ann', 'relay1')
    expect(r.markers()).toEqual(new Map([['ok', A]]))
    expect(r.names().size).toBe(0)
    storage.setItem(`${READ_MARKERS_STORAGE_KEY}:ann@relay1`, '{not json')
    expect(r.markers().size).toBe(0)
  })

  it('writes a burst of names once, after the delay, at most NAMES_REMEMBERED_MAX of them', () => {
    vi.useFakeTimers()
    const storage = memoryStorage()
    const r = new Remembered(storage, 'ann', 'relay1')
    const many = Array.from({ length: NAMES_REMEMBERED_MAX + 5 }, (_, i) => [`k${i}`, `name ${i}`] as const)
    let calls = 0
    r.saveNamesSoon(() => {
      calls++
      return many
    })
    r.saveNamesSoon(() => {
      calls++
      return many
    })
    expect(r.names().size).toBe(0)
    vi.advanceTimersByTime(NAMES_SAVE_DELAY_MS)
    expect(calls).toBe(1)
    const names = r.names()
    expect(names.size).toBe(NAMES_REMEMBERED_MAX)
    expect(names.get('k0')).toBe('name 0')
    expect(names.has(`k${NAMES_REMEMBERED_MAX}`)).toBe(false)
  })

  it('flush writes at once (the page is going) and a full or refused storage is not an error', () => {
    const r = new Remembered(
      {
        getItem: () => null,
        setItem: () => {
          throw new Error('QuotaExceededError')
        },
      },
      'ann',
      'relay1',
    )
    r.saveNamesSoon(() => [['k', 'Kay']])
    expect(() => r.flush()).not.toThrow()
    expect(() => r.markRead('general', A)).not.toThrow()
    const kept = memoryStorage()
    const s = new Remembered(kept, 'ann', 'relay1')
    s.saveNamesSoon(() => [['k', 'Kay']])
    s.flush()
    expect(s.names()).toEqual(new Map([['k', 'Kay']]))
  })
})
