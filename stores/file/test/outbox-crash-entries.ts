/** The entries outbox-crash-writer.ts writes, so that the test can compare them byte for byte. */
import type { OutboxEntry } from '@peerchat/engine'
import { fakeStoredEvent } from '@peerchat/engine/testing'

export function crashEntry(i: number): OutboxEntry {
  const { channel, kind, author, clientNonce, authorSig } = fakeStoredEvent('burst', i).event
  const body = new TextEncoder().encode(`pending write ${i} `.repeat(1 + (i % 7)))
  return { request: { channel, kind, author, clientNonce, body, authorSig }, queuedAt: 1_700_000_000_000 + i }
}

/** Entries the writer never deletes (the others are deleted as soon as their put resolves). */
export const isKept = (i: number): boolean => i % 4 === 0
