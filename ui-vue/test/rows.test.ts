import { type PublicKey, publicKeyToText, type Ulid } from '@peerchat/engine'
import { describe, expect, it } from 'vitest'
import type { ChatMessage } from '../src/client/channel-view.ts'
import { buildRows, GROUP_WINDOW_MS } from '../src/lib/rows.ts'

const alice = new Uint8Array(32).fill(1) as PublicKey
const bob = new Uint8Array(32).fill(2) as PublicKey
let n = 0
function msg(author: PublicKey, ts: number, extra: Partial<ChatMessage> = {}): ChatMessage {
  const id = `01J${String(n++).padStart(23, '0')}` as Ulid
  return {
    key: id,
    id,
    ts,
    authorId: publicKeyToText(author),
    text: 'hi',
    edited: false,
    redacted: false,
    replyTo: null,
    reactions: [],
    pending: false,
    failed: false,
    attachment: null,
    ...extra,
  }
}
// A day key in UTC so the test does not depend on the machine's time zone.
const utcDay = (ts: number): string => new Date(ts).toISOString().slice(0, 10)
const T = Date.UTC(2026, 10, 20, 10, 0, 0)

describe('buildRows', () => {
  it('starts with the edge row and separates days', () => {
    const rows = buildRows([msg(alice, T), msg(alice, T + 86_400_000)], 'start', utcDay)
    expect(rows.map((r) => r.kind)).toEqual(['edge', 'day', 'message', 'day', 'message'])
    expect(rows[0]).toMatchObject({ state: 'start' })
  })

  it('does not group a message under a notice of an encrypted conversation by the same author', () => {
    const notice = {
      type: 'commit' as const,
      by: publicKeyToText(alice),
      added: [],
      removed: [],
      keyChanged: [],
    }
    const rows = buildRows(
      [msg(alice, T, { notice }), msg(alice, T + 1_000), msg(alice, T + 2_000)],
      'start',
      utcDay,
    )
    expect(rows.flatMap((r) => (r.kind === 'message' ? [r.grouped] : []))).toEqual([false, false, true])
  })

  it('groups one author within the window, not across authors, replies or the window', () => {
    const rows = buildRows(
      [
        msg(alice, T),
        msg(alice, T + 1000),
        msg(bob, T + 2000),
        msg(bob, T + 3000, { replyTo: 'x' as Ulid }),
        msg(bob, T + 3000 + GROUP_WINDOW_MS),
      ],
      'more',
      utcDay,
    )
    const grouped = rows.flatMap((r) => (r.kind === 'message' ? [r.grouped] : []))
    expect(grouped).toEqual([false, true, false, false, false])
  })

  it('keys are unique so the virtual list can cache heights by key', () => {
    const messages = Array.from({ length: 500 }, (_, i) => msg(i % 3 ? alice : bob, T + i * 3_600_000))
    const rows = buildRows(messages, 'loading', utcDay)
    expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length)
  })
})
