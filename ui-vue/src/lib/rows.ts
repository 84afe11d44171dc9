/**
 * Turns a channel's messages into the rows of the message list: a day separator whenever the
 * local date changes, and "grouped" messages (no name and avatar) when the same author
 * continues within a few minutes.
 */
import type { ChatMessage } from '../client/channel-view.ts'

/** A run of one author's messages stays grouped while each follows the previous within this. */
export const GROUP_WINDOW_MS = 5 * 60_000

/** The top of the list: loading (locally or from peers), more to load, or the channel's start. */
export type EdgeState = 'loading' | 'peers' | 'more' | 'start'

export type Row =
  | { kind: 'edge'; key: string; state: EdgeState }
  | { kind: 'day'; key: string; ts: number }
  | { kind: 'message'; key: string; message: ChatMessage; grouped: boolean }

/** A local-date key (yyyy-mm-dd in the viewer's time zone). */
export function dayKey(ts: number): string {
  const d = new Date(ts)
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`
}

export function buildRows(
  messages: readonly ChatMessage[],
  edge: EdgeState,
  day: (ts: number) => string = dayKey,
): Row[] {
  const rows: Row[] = new Array(messages.length + 1)
  let n = 0
  rows[n++] = { kind: 'edge', key: 'edge', state: edge }
  let lastDay = ''
  let prev: ChatMessage | undefined
  for (const m of messages) {
    const d = day(m.ts)
    if (d !== lastDay) {
      rows[n++] = { kind: 'day', key: `day:${d}`, ts: m.ts }
      lastDay = d
      prev = undefined
    }
    const grouped =
      prev !== undefined &&
      prev.authorId === m.authorId &&
      m.replyTo === null &&
      m.ts - prev.ts < GROUP_WINDOW_MS &&
      !prev.redacted &&
      !prev.notice
    rows[n++] = { kind: 'message', key: m.key, message: m, grouped }
    prev = m
  }
  return rows
}
