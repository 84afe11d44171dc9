/**
 * MLS on a Replica: an `MlsChannel` fed by a channel of the replica (every change, in log order)
 * and publishing through it (signed, queued in the outbox, stamped by the relay); key packages
 * published in and read from `mls-keys`, one per device, newest first; Welcomes for this device
 * found in `mls-welcomes`.
 */

import type { KeyPackage } from 'ts-mls'
import { equalBytes } from '../bytes.ts'
import type { PublicKey } from '../identity/keys.ts'
import { KEY_PACKAGE_CHANNEL, MlsKind, WELCOME_CHANNEL } from '../private-channels.ts'
import type { Replica } from '../replica/replica.ts'
import { type Ulid, ulidSuccessor } from '../ulid.ts'
import { MlsChannel } from './channel.ts'
import { type MlsDevice, readKeyPackage } from './device.ts'
import type { CommitPolicy, MlsGroup } from './group.ts'
import { decodeWelcomeEnvelope, readMlsMessage } from './wire.ts'

/** Newest key-package events read when looking for someone's (default 500). */
export const KEY_PACKAGE_SCAN = 500

export interface ReplicaMlsChannel {
  mls: MlsChannel
  /** Resolves once the events stored so far were taken. */
  ready: Promise<void>
  close(): void
}

/**
 * An MLS group kept over `channel` of `replica`, for this device (a loaded `group`, or none yet;
 * `policy`: who may add and remove; `last`: the last event a loaded group took, read on after it;
 * `from`: who invited this device, asked first for the channel's events).
 */
export function openMlsChannel(
  replica: Replica,
  channel: string,
  device: MlsDevice,
  { last, from, ...o }: { group?: MlsGroup; policy?: CommitPolicy; last?: Ulid; from?: PublicKey } = {},
): ReplicaMlsChannel {
  const log = replica.open(channel, from ? { from } : {})
  const mls = new MlsChannel({
    device,
    channel,
    publish: async (to, kind, body) => {
      await replica.stamped(await replica.write(to, kind, body))
    },
    read: (from) => log.range({ gte: from }),
    ...o,
  })
  mls.last = last
  // Whatever changed, the events after the last one taken, in log order; one read at a time
  // (a burst of changes while this device is behind makes one more read, not one per change).
  let pulling: Promise<void> | undefined
  let again = false
  const readOn = async () => {
    const from = mls.last === undefined ? undefined : ulidSuccessor(mls.last)
    if (mls.last !== undefined && from === undefined) return
    await mls.take(await log.range(from ? { gte: from } : {}))
  }
  const pull = (): Promise<void> => {
    if (pulling) {
      again = true
      return pulling
    }
    pulling = (async () => {
      try {
        do {
          again = false
          await readOn()
        } while (again)
      } finally {
        pulling = undefined
      }
    })()
    return pulling
  }
  let off: (() => void) | undefined
  let closed = false
  const ready = replica
    .subscribe(channel, (change) => {
      if (change.added.length === 0) return
      // Events older than the last taken (a catch-up behind live traffic) go to `takeLate`.
      const last = mls.last
      const late = last === undefined ? [] : change.added.filter((e) => e.id <= last)
      void (late.length > 0 ? mls.takeLate(late) : Promise.resolve()).then(pull).catch(() => {})
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

/**
 * Calls `invited` with the group channel, envelope and author of every Welcome in `mls-welcomes` (stored
 * and to come) that names one of this device's key packages; pass them to that channel's `offer`.
 * Returns an unsubscribe.
 */
export async function watchWelcomes(
  replica: Replica,
  device: MlsDevice,
  invited: (channel: string, envelope: Uint8Array, inviter: PublicKey) => void,
): Promise<() => void> {
  const seen = (e: { kind: string; body: Uint8Array; author: PublicKey }) => {
    if (e.kind !== MlsKind.welcome) return
    try {
      const envelope = decodeWelcomeEnvelope(e.body)
      const m = readMlsMessage(envelope.welcome)
      if (m.wireformat !== 'mls_welcome') return
      if (device.keptFor(m.welcome.secrets.map((x) => x.newMember)))
        invited(envelope.channel, e.body, e.author)
    } catch {
      // not a Welcome: nothing for anyone
    }
  }
  return replica.subscribe(
    WELCOME_CHANNEL,
    (change) => {
      for (const e of change.added) seen(e)
    },
    { replay: true },
  )
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
