/**
 * MLS on a Replica: an `MlsChannel` fed by a channel of the replica (every change, in log order)
 * and publishing through it (signed, queued in the outbox, stamped by the relay); key packages
 * published in and read from the `mls-keys` channel, one per device, newest first.
 */

import type { KeyPackage } from 'ts-mls'
import { equalBytes } from '../bytes.ts'
import type { PublicKey } from '../identity/keys.ts'
import { KEY_PACKAGE_CHANNEL, MlsKind } from '../private-channels.ts'
import type { Replica } from '../replica/replica.ts'
import { ulidSuccessor } from '../ulid.ts'
import { MlsChannel } from './channel.ts'
import { type MlsDevice, readKeyPackage } from './device.ts'
import type { MlsGroup } from './group.ts'

/** Newest key-package events read when looking for someone's (default 500). */
export const KEY_PACKAGE_SCAN = 500

export interface ReplicaMlsChannel {
  mls: MlsChannel
  /** Resolves once the events stored so far were taken. */
  ready: Promise<void>
  close(): void
}

/** An MLS group kept over `channel` of `replica`, for this device (a loaded `group`, or none yet). */
export function openMlsChannel(
  replica: Replica,
  channel: string,
  device: MlsDevice,
  group?: MlsGroup,
): ReplicaMlsChannel {
  const log = replica.open(channel)
  const mls = new MlsChannel({
    device,
    publish: async (kind, body) => {
      await replica.stamped(await replica.write(channel, kind, body))
    },
    read: (from) => log.range({ gte: from }),
    ...(group ? { group } : {}),
  })
  // Whatever changed, the events after the last one taken, in log order.
  const pull = async () => {
    const from = mls.last === undefined ? undefined : ulidSuccessor(mls.last)
    if (mls.last !== undefined && from === undefined) return
    await mls.take(await log.range(from ? { gte: from } : {}))
  }
  let off: (() => void) | undefined
  let closed = false
  const ready = replica
    .subscribe(channel, (change) => {
      if (change.added.length > 0) void pull().catch(() => {})
    })
    .then((o) => {
      if (closed) o()
      else off = o
      return pull()
    })
  return {
    mls,
    ready,
    close: () => {
      closed = true
      off?.()
    },
  }
}

/** Publishes a fresh key package of this device (its secrets stay with the device). */
export async function publishKeyPackage(replica: Replica, device: MlsDevice): Promise<void> {
  await replica.stamped(
    await replica.write(KEY_PACKAGE_CHANNEL, MlsKind.keyPackage, await device.keyPackage()),
  )
}

/** The newest valid key package `user` published that this replica holds, if any. */
export async function keyPackageOf(replica: Replica, user: PublicKey): Promise<KeyPackage | undefined> {
  const events = await replica.open(KEY_PACKAGE_CHANNEL).range({}, { limit: KEY_PACKAGE_SCAN, reverse: true })
  for (const e of events) {
    if (e.kind !== MlsKind.keyPackage || !equalBytes(e.author, user)) continue
    try {
      return await readKeyPackage(e.body, e.author)
    } catch {
      // not a valid one: try an older
    }
  }
  return undefined
}
