/**
 * An MLS group kept over a channel log: the policy around `MlsGroup`. It takes the channel's
 * events in log order (`take`), publishes through the caller (`publish`: sign, queue, stamp),
 * and reads the log again when it joins (`read`).
 *
 * - Whose commit wins an epoch is the log's order (the relay's stamps): the first `mls.commit`
 *   of an epoch is applied by everyone, later ones of that epoch are ignored. A device whose
 *   commit lost proposes the same change again on the new epoch (users already in, or gone, are
 *   skipped), up to `MAX_RETRIES` times.
 * - A device that is not a member watches the commits' plaintext headers (group, epoch), and is
 *   offered Welcomes (`offer`: the app finds them in `mls-welcomes`, `watchWelcomes`): a Welcome
 *   for one of its key packages whose commit is the first of its epoch makes it join, and it
 *   reads the log from that commit on (messages of the new epoch may precede the Welcome).
 * - Events from a later epoch than this device's wait in order: the log is missing something
 *   (a sync in progress); `take` gets them again with what was missing.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import type { KeyPackage } from 'ts-mls'
import { equalBytes, toHex } from '../bytes.ts'
import type { PublicKey } from '../identity/keys.ts'
import { isPrivateChannel, PRIVATE_CHANNEL_PREFIX, WELCOME_CHANNEL } from '../private-channels.ts'
import type { Ulid } from '../ulid.ts'
import { ownerOf } from './credential.ts'
import type { MlsDevice } from './device.ts'
import {
  anyMember,
  type CommitPolicy,
  type MembershipChange,
  type MlsEvent,
  MlsGroup,
  type MlsReceived,
} from './group.ts'
import { decodeWelcomeEnvelope, encodeWelcomeEnvelope, headerOf, type InnerEvent, MlsKind } from './wire.ts'

/** Times a lost commit is proposed again (default 3). */
export const MAX_RETRIES = 3
/** Welcomes kept while their commit has not shown (default 16; the oldest is dropped). */
export const WELCOMES_KEPT = 16

export interface MlsChannelOptions {
  device: MlsDevice
  /** The group's channel (`mls.<group id hex>`). */
  channel: string
  /**
   * Publishes an event: commits and messages in the group's channel, Welcomes in
   * `mls-welcomes`; resolves once stamped (the log will hold it).
   */
  publish(channel: string, kind: string, body: Uint8Array): Promise<void>
  /** The channel's events with id >= `from`, in log order. */
  read(from: Ulid): Promise<MlsEvent[]>
  /** A group this device is in already (loaded from storage). */
  group?: MlsGroup
  /** Who may add and remove (default: any member, as in a direct message). */
  policy?: CommitPolicy
}

export interface MlsChannelListener {
  /** An application message decrypted; `id` is its event's. */
  message?(id: Ulid, inner: InnerEvent): void
  /** A commit applied (`author`: its committer), or this device joined (`joined`). */
  change?(
    id: Ulid,
    c: Extract<MlsReceived, { type: 'commit' }> | { type: 'joined'; epoch: bigint },
    author?: PublicKey,
  ): void
}

export class MlsChannel {
  group: MlsGroup | undefined
  /** The id of the last event taken. */
  last: Ulid | undefined
  private readonly listeners = new Set<MlsChannelListener>()
  /** First commit of each epoch seen (while not a member): its body's digest and its id. */
  private readonly firstCommits = new Map<bigint, { digest: string; id: Ulid }>()
  /** Welcome envelopes for this device whose commit was not seen first yet. */
  private readonly welcomes = new Map<string, Uint8Array>()
  private retries = 0
  /** Calls waiting for this device's commit to be applied or lost (`settled`). */
  private waiting: (() => void)[] = []
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly o: MlsChannelOptions) {
    if (!isPrivateChannel(o.channel)) throw new RangeError(`${o.channel} is not a group channel (mls.<hex>)`)
    this.group = o.group
  }

  on(listener: MlsChannelListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Starts a new group (this device alone) for this channel (its id is the channel's). */
  async create(): Promise<void> {
    if (this.group) throw new Error('this channel already has a group')
    this.group = await MlsGroup.create(this.o.device, groupIdOf(this.o.channel))
  }

  /**
   * A Welcome envelope (an `mls-welcomes` event's body) that may be for this device: kept until
   * its commit shows as the first of its epoch in this channel's log, then joined.
   */
  offer(envelope: Uint8Array): Promise<void> {
    return this.serial(async () => {
      await this.welcomed(envelope)
    })
  }

  /**
   * Adds users by their key packages and removes users, as one commit (published with its
   * Welcome); resolves once published (`settled`: once the log showed it and it was applied).
   */
  change(change: MembershipChange): Promise<void> {
    return this.serial(() => this.commit(change))
  }

  add(keyPackages: KeyPackage[]): Promise<void> {
    return this.change({ add: keyPackages, remove: [] })
  }

  remove(users: PublicKey[]): Promise<void> {
    return this.change({ add: [], remove: users })
  }

  /** Sends an inner event (a chat event) encrypted for the members. */
  async send(kind: string, body: Uint8Array): Promise<void> {
    await this.o.publish(this.o.channel, MlsKind.message, await this.seal(kind, body))
  }

  /**
   * Encrypts an inner event for the members: the body of an `mls.message` event, for the caller
   * to publish (after keeping the group's state: its keys moved on, and must not be used again).
   */
  async seal(kind: string, body: Uint8Array): Promise<Uint8Array> {
    // Not in the epoch a commit of ours is about to end: the members will be in the next one.
    await this.settled()
    return this.serial(() => this.member().encrypt(kind, body))
  }

  /** Wakes the calls waiting in `settled` when no commit of this device waits any more. */
  private wake(): void {
    if (!this.group?.committing) for (const resolve of this.waiting.splice(0)) resolve()
  }

  /** Resolves when no commit of this device waits for the log (at once when none does). */
  settled(): Promise<void> {
    if (!this.group?.committing) return Promise.resolve()
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  /** Takes the channel's next events, in log order (ones taken before are skipped). */
  take(events: readonly MlsEvent[]): Promise<void> {
    return this.serial(async () => {
      for (const e of events) {
        if (this.last !== undefined && e.id <= this.last) continue
        const stop = await this.takeOne(e)
        if (stop) return
      }
    })
  }

  private async takeOne(e: MlsEvent): Promise<boolean> {
    const group = this.group
    if (!group?.active) {
      // Not joined yet: the commit a Welcome names may still come after later events (they came
      // live once the channel was opened, it comes by catch-up): read the log from the start again.
      if (group) this.last = e.id
      return this.watch(e)
    }
    const r = await group.receive(e, this.o.policy)
    if (r.type === 'behind') return true // wait for the missing events: `last` stays before this one
    this.last = e.id
    if (r.type === 'message') for (const l of this.listeners) l.message?.(e.id, r.inner)
    if (r.type === 'commit') {
      for (const l of this.listeners) l.change?.(e.id, r, e.author)
      try {
        if (r.mine) this.retries = 0
        else if (r.lost && !r.removedMe && this.retries < MAX_RETRIES) {
          this.retries++
          await this.commit(r.lost)
        }
      } finally {
        this.wake()
      }
    }
    return false
  }

  /**
   * Messages older than the last event taken that reached the log after it (a catch-up behind
   * live traffic; give only those, as they arrive): decrypted if this device still holds their
   * keys (MLS keeps skipped keys; one already read fails to decrypt again and is ignored). `last`
   * stays where it is.
   */
  takeLate(events: readonly MlsEvent[]): Promise<void> {
    return this.serial(async () => {
      for (const e of events) {
        const group = this.group
        if (!group?.active || e.kind !== MlsKind.message || this.last === undefined || e.id > this.last)
          continue
        const r = await group.receive(e, this.o.policy)
        if (r.type === 'message') for (const l of this.listeners) l.message?.(e.id, r.inner)
      }
    })
  }

  /** Not a member: note first commits, and join from a Welcome whose commit came first. */
  private async watch(e: MlsEvent): Promise<boolean> {
    if (e.kind === MlsKind.welcome) return this.welcomed(e.body)
    if (e.kind !== MlsKind.commit) return false
    const h = headerOf(e.body)
    if (h?.contentType !== 'commit' || this.firstCommits.has(h.epoch)) return false
    const digest = toHex(sha256(e.body))
    this.firstCommits.set(h.epoch, { digest, id: e.id })
    const welcome = this.welcomes.get(digest)
    return welcome ? this.join(e.id, welcome) : false
  }

  /** A Welcome envelope: joins if its commit was first of its epoch, else keeps it for when it is. */
  private async welcomed(body: Uint8Array): Promise<boolean> {
    if (this.group?.active) return false
    let envelope: ReturnType<typeof decodeWelcomeEnvelope>
    try {
      envelope = decodeWelcomeEnvelope(body)
    } catch {
      return false
    }
    if (envelope.channel !== this.o.channel) return false
    const digest = toHex(envelope.commit)
    const first = [...this.firstCommits.values()].find((c) => c.digest === digest)
    if (first) return this.join(first.id, envelope.welcome)
    this.welcomes.set(digest, envelope.welcome)
    // Anyone may post Welcomes naming this channel: keep a few.
    if (this.welcomes.size > WELCOMES_KEPT) this.welcomes.delete(this.welcomes.keys().next().value!)
    return false
  }

  /** Joins from `welcome` and reads the log again from its commit (the new epoch starts there). */
  private async join(commitId: Ulid, welcome: Uint8Array): Promise<boolean> {
    let group: MlsGroup | undefined
    try {
      group = await MlsGroup.join(this.o.device, welcome)
    } catch {
      return false // a Welcome that does not verify joins nothing
    }
    if (!group) return false
    this.group = group
    this.welcomes.clear()
    this.firstCommits.clear()
    for (const l of this.listeners) l.change?.(commitId, { type: 'joined', epoch: group.epoch })
    this.last = commitId
    const again = (await this.o.read(commitId)).filter((e) => e.id > commitId)
    for (const e of again) if (await this.takeOne(e)) return true
    return true // the rest of the batch was read again above
  }

  private async commit(change: MembershipChange): Promise<void> {
    const group = this.member()
    const policy = this.o.policy ?? anyMember
    const add = change.add.flatMap((kp) => ownerOf(kp.leafNode.credential) ?? [])
    if (!policy({ committer: group.device.user, add, remove: change.remove, creator: group.creator() }))
      throw new Error('you may not change who is in this group')
    const made = await group.commit({
      add: change.add,
      remove: change.remove.filter((u) => !equalBytes(u, group.device.user)),
    })
    if (!made) return
    try {
      await this.o.publish(this.o.channel, MlsKind.commit, made.commit)
    } catch (e) {
      group.abandon()
      this.wake()
      throw e
    }
    if (made.welcome)
      await this.o.publish(
        WELCOME_CHANNEL,
        MlsKind.welcome,
        encodeWelcomeEnvelope({
          channel: this.o.channel,
          commit: sha256(made.commit),
          welcome: made.welcome,
        }),
      )
  }

  private member(): MlsGroup {
    if (!this.group?.active) throw new Error('this device is not a member of the group')
    return this.group
  }

  /** One operation at a time: events are taken and commits made in order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return run
  }
}

/** The group id a channel name carries (`mls.<hex>`). */
function groupIdOf(channel: string): Uint8Array {
  const hex = channel.slice(PRIVATE_CHANNEL_PREFIX.length)
  return Uint8Array.from(hex.match(/../g)!, (b) => Number.parseInt(b, 16))
}
