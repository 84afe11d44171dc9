/**
 * A device's encrypted conversations on a Replica: direct messages (anyone in them may add and
 * remove) and private channels (their creator manages who is in). It owns what an app would
 * otherwise re-do: the device's MLS secrets (kept, with a key package published for others to
 * invite it), invitations (Welcomes in `mls-welcomes` for this device, joined), every group it
 * is in (followed in log order, state kept after every change), the plaintext of what it
 * decrypted or sent (its only readable history: keys are used once), and notices of who came,
 * went, or changed keys — stored with the plaintexts, under the commit's id.
 *
 * The kind of a conversation is in its group id (first byte), so every device applies the same
 * commit policy before it has read anything: `mls.01…` direct, `mls.02…` private channel.
 */

import { equalBytes, fromHex, toHex } from '../bytes.ts'
import type { PublicKey, Signer } from '../identity/keys.ts'
import {
  KEY_PACKAGE_CHANNEL,
  MlsKind,
  PlainKind,
  privateChannelOf,
  WELCOME_CHANNEL,
} from '../private-channels.ts'
import type { Replica, Write } from '../replica/replica.ts'
import type { Ulid } from '../ulid.ts'
import { MlsDevice, refOf } from './device.ts'
import { anyMember, type CommitPolicy, creatorOnly, MlsGroup } from './group.ts'
import { keyPackageOf, openMlsChannel, type ReplicaMlsChannel, watchWelcomes } from './replica.ts'
import { MemoryMlsStorage, type MlsStorage, type PlainEvent, type PlainQuery } from './storage.ts'
import type { InnerEvent } from './wire.ts'

export type ConversationKind = 'direct' | 'private'

const KIND_BYTE: Record<ConversationKind, number> = { direct: 0x01, private: 0x02 }
/** Random bytes of a new group id after its kind byte. */
const GROUP_ID_RANDOM = 15
/** Longest private channel title (characters). */
export const TITLE_MAX = 80

/** Local notices (who came and went): stored among the plaintexts, never taken from a message. */
export const NOTICE_KIND = PlainKind.notice
/** A private channel's title: an inner event, counted from the channel's creator only. */
export const TITLE_KIND = PlainKind.title

/** What a notice says, users as hex keys. */
export type Notice =
  | { type: 'joined' }
  | { type: 'commit'; by: string; added: string[]; removed: string[]; keyChanged: string[] }

export function conversationKindOf(channel: string): ConversationKind | undefined {
  const m = /^mls\.(0[12])[0-9a-f]*$/.exec(channel)
  return m ? (m[1] === '01' ? 'direct' : 'private') : undefined
}

export const policyOf = (kind: ConversationKind): CommitPolicy =>
  kind === 'direct' ? anyMember : creatorOnly

export interface Conversation {
  channel: string
  kind: ConversationKind
  title: string | undefined
  /** Users in the group, in leaf order. */
  members: PublicKey[]
  creator: PublicKey | undefined
  /** This device is in the group now (false once removed). */
  member: boolean
  epoch: bigint
}

export interface ConversationListener {
  /** Plaintexts (messages, own sent ones, notices) this device keeps now, in id order. */
  plain?(channel: string, events: readonly PlainEvent[]): void
  /** A conversation's members, title or standing changed, or a new one appeared. */
  changed?(channel: string): void
  /** Keeping something failed (storage full): what the device could not keep. */
  error?(channel: string, error: Error): void
}

export interface MlsConversationsOptions {
  replica: Replica
  /** The user's identity (signs the device's credential). */
  signer: Signer
  storage?: MlsStorage
}

interface Meta {
  kind: ConversationKind
  title?: string
  last?: string
}

interface Entry {
  rc: ReplicaMlsChannel
  meta: Meta
  /** Writes of this conversation's state, in order. */
  saving: Promise<void>
}

const text = new TextEncoder()
const utf8 = new TextDecoder()

export class MlsConversations {
  private readonly entries = new Map<string, Entry>()
  private readonly listeners = new Set<ConversationListener>()
  /** Own messages not stamped yet, by write key: their plaintext. */
  private readonly pendingPlain = new Map<string, InnerEvent>()
  /** Each user's device keys seen in any group (hex): a new one is a key change. */
  private readonly knownKeys = new Map<string, Set<string>>()
  private offWelcomes: (() => void) | undefined
  private closed = false
  private keyPackageWork: Promise<void> = Promise.resolve()

  private constructor(
    private readonly replica: Replica,
    private readonly device: MlsDevice,
    private readonly storage: MlsStorage,
  ) {}

  /**
   * Loads (or makes) this device's MLS secrets and every kept group, follows them, watches for
   * invitations, and publishes a key package when none of this device's is out (in the background).
   */
  static async open(o: MlsConversationsOptions): Promise<MlsConversations> {
    const storage = o.storage ?? new MemoryMlsStorage()
    const user = toHex(o.signer.publicKey)
    const saved = await storage.loadDevice(user)
    const device = saved ? await MlsDevice.import(o.signer, saved) : await MlsDevice.create(o.signer)
    if (!saved) await storage.saveDevice(user, device.export())
    const self = new MlsConversations(o.replica, device, storage)
    o.replica.open(KEY_PACKAGE_CHANNEL)
    o.replica.open(WELCOME_CHANNEL)
    for (const channel of await storage.groups()) {
      const kind = conversationKindOf(channel)
      if (!kind) continue
      const { group, meta } = await storage.loadGroup(channel)
      const loaded = group ? MlsGroup.load(device, group) : undefined
      if (loaded) self.learnKeys(loaded.deviceKeys())
      self.follow(channel, { kind, ...(meta ? parseMeta(meta) : {}) }, loaded)
    }
    self.offWelcomes = await watchWelcomes(o.replica, device, (channel, envelope, inviter) => {
      const kind = conversationKindOf(channel)
      if (!kind || self.closed) return
      const entry = self.entries.get(channel) ?? self.follow(channel, { kind }, undefined, inviter)
      void entry.rc.mls.offer(envelope)
    })
    self.refreshKeyPackage()
    return self
  }

  get user(): PublicKey {
    return this.device.user
  }

  on(listener: ConversationListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Conversations this device is or was in (not invitations it has not joined yet). */
  list(): Conversation[] {
    return [...this.entries.keys()].flatMap((c) => this.get(c) ?? [])
  }

  get(channel: string): Conversation | undefined {
    const entry = this.entries.get(channel)
    const group = entry?.rc.mls.group
    if (!entry || !group) return undefined
    return {
      channel,
      kind: entry.meta.kind,
      title: entry.meta.title,
      members: group.active ? group.members() : [],
      creator: group.creator(),
      member: group.active,
      epoch: group.epoch,
    }
  }

  /**
   * Starts a conversation with `users` (by the key packages they published): a new group, the
   * commit adding them and their Welcome, and for a private channel its `title`. Resolves with
   * its channel once the commit is in the log and applied. Throws when someone has no key package here.
   */
  async create(kind: ConversationKind, users: readonly PublicKey[], title?: string): Promise<string> {
    const others = users.filter((u) => !equalBytes(u, this.user))
    const keyPackages = await this.keyPackagesOf(others)
    const id = new Uint8Array(1 + GROUP_ID_RANDOM)
    id[0] = KIND_BYTE[kind]
    crypto.getRandomValues(id.subarray(1))
    const channel = privateChannelOf(id)
    const entry = this.follow(channel, {
      kind,
      ...(kind === 'private' && title ? { title: title.slice(0, TITLE_MAX) } : {}),
    })
    await entry.rc.mls.create()
    this.save(channel, entry, [])
    await entry.rc.mls.add(keyPackages)
    await entry.rc.mls.settled()
    if (kind === 'private' && entry.meta.title)
      await this.send(channel, TITLE_KIND, text.encode(entry.meta.title))
    return channel
  }

  /** Adds users to a conversation (a private channel: its creator only). */
  async add(channel: string, users: readonly PublicKey[]): Promise<void> {
    const { mls } = this.entry(channel).rc
    await mls.add(await this.keyPackagesOf(users))
    await mls.settled()
  }

  /** Removes users from a conversation: they cannot read anything sent from then on. */
  async remove(channel: string, users: readonly PublicKey[]): Promise<void> {
    const { mls } = this.entry(channel).rc
    await mls.remove([...users])
    await mls.settled()
  }

  /**
   * Sends a chat event encrypted for the members: the group's state is kept before the event is
   * queued (its keys must never be used twice), its plaintext once the relay stamped it.
   */
  async send(channel: string, kind: string, body: Uint8Array): Promise<Write> {
    const entry = this.entry(channel)
    const sealed = await entry.rc.mls.seal(kind, body)
    await this.save(channel, entry, [])
    const write = await this.replica.write(channel, MlsKind.message, sealed)
    const inner = { kind, author: this.user, body }
    this.pendingPlain.set(write.key, inner)
    this.replica.stamped(write).then(
      (e) => {
        this.pendingPlain.delete(write.key)
        void this.save(channel, entry, [{ id: e.id, ...inner }])
      },
      () => this.pendingPlain.delete(write.key),
    )
    return write
  }

  /** The plaintext of an own message not stamped yet (by its write key). */
  pending(writeKey: string): InnerEvent | undefined {
    return this.pendingPlain.get(writeKey)
  }

  /** What this device keeps of a conversation: plaintexts and notices, in id order. */
  plain(channel: string, query?: PlainQuery): Promise<PlainEvent[]> {
    return this.storage.plain(channel, query)
  }

  /** Resolves once every conversation took the events stored so far. */
  async ready(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.rc.ready))
  }

  close(): void {
    this.closed = true
    this.offWelcomes?.()
    for (const e of this.entries.values()) e.rc.close()
    this.entries.clear()
  }

  // ---- internals --------------------------------------------------------------------------

  private entry(channel: string): Entry {
    const entry = this.entries.get(channel)
    if (!entry?.rc.mls.group?.active) throw new Error('you are not in this conversation')
    return entry
  }

  /** Follows a group channel (`from`: who invited this device, asked first for its events). */
  private follow(channel: string, meta: Meta, group?: MlsGroup, from?: PublicKey): Entry {
    const rc = openMlsChannel(this.replica, channel, this.device, {
      policy: policyOf(meta.kind),
      ...(from ? { from } : {}),
      ...(group ? { group } : {}),
      ...(meta.last ? { last: meta.last as Ulid } : {}),
    })
    const entry: Entry = { rc, meta, saving: Promise.resolve() }
    this.entries.set(channel, entry)
    rc.mls.on({
      message: (id, inner) => {
        entry.meta.last = rc.mls.last ?? id
        // Notices are this device's own; a title counts from the creator only.
        if (inner.kind === NOTICE_KIND) return void this.save(channel, entry, [])
        if (inner.kind === TITLE_KIND) {
          const creator = rc.mls.group?.creator()
          if (!creator || !equalBytes(creator, inner.author)) return void this.save(channel, entry, [])
          entry.meta.title = utf8.decode(inner.body).slice(0, TITLE_MAX)
        }
        void this.save(channel, entry, [{ id, ...inner }])
        if (inner.kind === TITLE_KIND) this.changed(channel)
      },
      change: (id, c, author) => {
        entry.meta.last = rc.mls.last ?? id
        const group = rc.mls.group
        const keys = group?.active ? group.deviceKeys() : new Map<string, string[]>()
        const keyChanged = this.learnKeys(keys)
        const notice: Notice =
          c.type === 'joined'
            ? { type: 'joined' }
            : {
                type: 'commit',
                by: author ? toHex(author) : '',
                added: c.added.map(toHex),
                removed: c.removed.map(toHex),
                keyChanged,
              }
        void this.save(channel, entry, [
          { id, kind: NOTICE_KIND, author: author ?? this.user, body: text.encode(JSON.stringify(notice)) },
        ])
        if (c.type === 'joined') this.refreshKeyPackage(true)
        this.changed(channel)
      },
    })
    return entry
  }

  /** Keeps the group's state (taken now), its notes and `plain`, after earlier saves; then tells the listeners. */
  private save(channel: string, entry: Entry, plain: PlainEvent[]): Promise<void> {
    const group = entry.rc.mls.group?.save()
    const meta = text.encode(JSON.stringify(entry.meta))
    const run = entry.saving.then(async () => {
      try {
        await this.storage.commit(channel, { ...(group ? { group } : {}), meta, plain })
      } catch (e) {
        for (const l of this.listeners) l.error?.(channel, e as Error)
        throw e
      }
      if (plain.length > 0) for (const l of this.listeners) l.plain?.(channel, plain)
    })
    entry.saving = run.catch(() => {})
    return run
  }

  private changed(channel: string): void {
    for (const l of this.listeners) l.changed?.(channel)
  }

  /** Notes users' device keys; returns the users (hex) seen before with other keys. */
  private learnKeys(keys: Map<string, string[]>): string[] {
    const changed: string[] = []
    for (const [user, list] of keys) {
      if (user === toHex(this.user)) continue
      const known = this.knownKeys.get(user)
      if (known && list.some((k) => !known.has(k))) changed.push(user)
      const set = known ?? new Set<string>()
      for (const k of list) set.add(k)
      this.knownKeys.set(user, set)
    }
    return changed
  }

  private async keyPackagesOf(users: readonly PublicKey[]) {
    const found = await Promise.all(users.map((u) => keyPackageOf(this.replica, u)))
    const missing = found.filter((kp) => !kp).length
    if (missing > 0)
      throw new Error(
        `${missing === 1 ? 'One person has' : `${missing} people have`} no encryption key here yet: ` +
          'they must open peerchat once (it publishes one), then try again.',
      )
    return found as NonNullable<(typeof found)[number]>[]
  }

  /**
   * Publishes a fresh key package when a Welcome used one (`used`) or the newest of this
   * device's is not one it keeps (none yet), its secrets saved first. In the background, one at
   * a time. (A used one stays usable as a last resort until the fresh one reached inviters.)
   */
  private refreshKeyPackage(used = false): void {
    this.keyPackageWork = this.keyPackageWork.then(async () => {
      if (this.closed) return
      const user = toHex(this.user)
      if (!used) {
        const newest = await keyPackageOf(this.replica, this.user)
        if (newest && this.device.keptFor([fromHex(await refOf(newest))])) return
      }
      const body = await this.device.keyPackage()
      await this.storage.saveDevice(user, this.device.export())
      await this.replica.stamped(await this.replica.write(KEY_PACKAGE_CHANNEL, MlsKind.keyPackage, body))
    })
    this.keyPackageWork.catch(() => {})
    this.keyPackageWork = this.keyPackageWork.catch(() => {})
  }
}

function parseMeta(bytes: Uint8Array): Partial<Meta> {
  try {
    const m = JSON.parse(utf8.decode(bytes)) as Partial<Meta>
    return {
      ...(typeof m.title === 'string' ? { title: m.title.slice(0, TITLE_MAX) } : {}),
      ...(typeof m.last === 'string' ? { last: m.last } : {}),
    }
  } catch {
    return {}
  }
}
