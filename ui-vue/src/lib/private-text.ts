/**
 * What an encrypted conversation's notice says, in words: "Ann added Bob and Cara", "You were
 * removed by Ann", a key change with what to do about it. Pure; names come from the caller.
 */
import type { NoticeView } from '../client/notices.ts'

/** "Bob", "Bob and Cara", "Bob, Cara and Dan". */
export function listNames(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? ''
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`
}

export function noticeText(n: NoticeView, nameOf: (id: string) => string, selfId: string): string[] {
  const who = (id: string) => (id === selfId ? 'you' : nameOf(id))
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)
  if (n.type === 'joined')
    return [
      'You joined this encrypted conversation. Messages sent before you were added cannot be read here.',
    ]
  if (n.type === 'title') return [`${cap(who(n.by))} named this private channel “${n.title}”.`]
  const lines: string[] = []
  const by = cap(who(n.by))
  const removedMe = n.removed.includes(selfId)
  if (n.added.length > 0) lines.push(`${by} added ${listNames(n.added.map(who))}.`)
  if (removedMe) lines.push(`You were removed by ${who(n.by)}: you cannot read anything sent from now on.`)
  const others = n.removed.filter((id) => id !== selfId)
  if (others.length > 0) lines.push(`${by} removed ${listNames(others.map(who))}.`)
  for (const id of n.keyChanged)
    lines.push(
      `${cap(nameOf(id))}’s encryption key changed (a new device, or peerchat reinstalled). ` +
        `If you did not expect it, check with ${nameOf(id)} another way.`,
    )
  return lines
}

/** What the channel list and title call a conversation: a private channel's title, a DM's other members. */
export function conversationLabel(
  info: { kind: 'direct' | 'private'; title: string | undefined; members: readonly string[] },
  nameOf: (id: string) => string,
  selfId: string,
): string {
  if (info.kind === 'private') return info.title || 'private channel'
  const others = info.members.filter((id) => id !== selfId)
  return others.length > 0 ? listNames(others.map(nameOf)) : 'direct message'
}
