/**
 * The notices of an encrypted conversation as the message list shows them: who added and
 * removed whom, whose key changed, that this device joined, a private channel's title. Kept by
 * the engine's `MlsConversations` among the plaintexts, under the commit's id.
 */
import { fromHex, PlainKind, publicKeyToText, type StampedEvent } from '@peerchat/engine'

/** A notice as the message list shows it (keys as text). */
export type NoticeView =
  | { type: 'joined' }
  | { type: 'title'; by: string; title: string }
  | { type: 'commit'; by: string; added: string[]; removed: string[]; keyChanged: string[] }

const utf8 = new TextDecoder()
const keyText = (hex: string): string => publicKeyToText(fromHex(hex))

interface StoredNotice {
  type: string
  by?: string
  added?: string[]
  removed?: string[]
  keyChanged?: string[]
}

const keys = (list: unknown): string[] =>
  Array.isArray(list) ? list.filter((k): k is string => typeof k === 'string').map(keyText) : []

/** A notice or title event's body as shown (undefined: not one, or malformed). */
export function noticeOf(e: StampedEvent): NoticeView | undefined {
  try {
    if (e.kind === PlainKind.title)
      return { type: 'title', by: publicKeyToText(e.author), title: utf8.decode(e.body) }
    if (e.kind !== PlainKind.notice) return undefined
    const n = JSON.parse(utf8.decode(e.body)) as StoredNotice
    if (n.type === 'joined') return { type: 'joined' }
    if (n.type !== 'commit') return undefined
    return {
      type: 'commit',
      by: n.by ? keyText(n.by) : publicKeyToText(e.author),
      added: keys(n.added),
      removed: keys(n.removed),
      keyChanged: keys(n.keyChanged),
    }
  } catch {
    return undefined
  }
}
