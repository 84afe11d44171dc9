import { abytes } from '../bytes.ts'
import { DIGEST_BYTES } from './fingerprint.ts'
import type { StoredEvent } from './store.ts'

/** What every store's `putMany` checks first: each event belongs to `channel` and has a 32-byte digest. */
export function checkBatch(channel: string, items: readonly StoredEvent[]): void {
  for (const item of items) {
    if (item.event.channel !== channel)
      throw new RangeError(`event ${item.event.id} belongs to ${item.event.channel}, not ${channel}`)
    abytes(item.digest, DIGEST_BYTES, 'digest')
  }
}
