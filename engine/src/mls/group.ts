/**
 * One device's membership of an MLS group (RFC 9420) whose messages are events of a channel log:
 * `mls.commit` events change the membership (first commit of an epoch in the log's order wins:
 * the relay's stamp order), `mls.welcome` events let the added join, `mls.message` events carry
 * encrypted inner events. `receive` takes the channel's events in log order and says what each
 * did; nothing here touches the network or the store.
 *
 * - A commit this device made is pending until the log shows it: its own event is adopted
 *   (ts-mls cannot process one's own commit), another commit of the same epoch first means it
 *   lost (`lost` says what it wanted; `MlsChannel` proposes it again on the new epoch).
 * - A commit counts only if its committer's credential names the event's author; an application
 *   message only if the inner event names the event's author (ts-mls does not say which member
 *   encrypted it; membership is what decrypting proves).
 * - Commits are private messages: the relay and non-members see only the group id, the epoch and
 *   the content type (RFC 9420 §6.3).
 */

import {
  type ClientState,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeGroupState,
  emptyPskIndex,
  encodeGroupState,
  joinGroup,
  type KeyPackage,
  makePskIndex,
  type PrivateMessage,
  type Proposal,
  processPrivateMessage,
} from 'ts-mls'
import { equalBytes, toHex } from '../bytes.ts'
import type { PublicKey } from '../identity/keys.ts'
import type { Ulid } from '../ulid.ts'
import { ownerOf } from './credential.ts'
import type { MlsDevice } from './device.ts'
import { MLS_CONFIG, mlsSuite } from './suite.ts'
import {
  decodeInner,
  encodeInner,
  type InnerEvent,
  MlsKind,
  readMlsMessage,
  writeMlsMessage,
} from './wire.ts'

/** The part of a stamped event a group reads. */
export interface MlsEvent {
  id: Ulid
  kind: string
  author: PublicKey
  body: Uint8Array
}

/**
 * Who may change a group's membership (e.g. a private channel's admins; anyone in a direct
 * message): the committer and the users its commit adds and removes. A commit it refuses is
 * ignored by every device that holds the same policy.
 */
export type CommitPolicy = (c: {
  committer: PublicKey
  add: PublicKey[]
  remove: PublicKey[]
  /** The group's creator: the user of leaf 0 (MLS puts a group's creator there). */
  creator: PublicKey | undefined
}) => boolean

/** Everyone in the group may add and remove (a direct message, a small group of peers). */
export const anyMember: CommitPolicy = () => true

/** Only the group's creator may add and remove (a private channel: its creator is its admin). */
export const creatorOnly: CommitPolicy = ({ committer, creator }) =>
  creator !== undefined && equalBytes(committer, creator)

/** A change of membership asked for: users to remove (all their devices), key packages to add. */
export interface MembershipChange {
  add: KeyPackage[]
  remove: PublicKey[]
}

export type MlsReceived =
  /** An application message decrypted: the inner event (its author is the event's). */
  | { type: 'message'; inner: InnerEvent }
  /** A commit applied: the new epoch, who came and went (users), whether it was mine, whether I was removed. */
  | {
      type: 'commit'
      epoch: bigint
      mine: boolean
      added: PublicKey[]
      removed: PublicKey[]
      removedMe: boolean
      /** My pending commit for the same epoch lost to this one: what it wanted. */
      lost?: MembershipChange
    }
  /** From a later epoch than this device's: events before it are missing. */
  | { type: 'behind'; epoch: bigint }
  /** Not for this group, from an old epoch (a commit that lost, a replay), refused or undecryptable. */
  | { type: 'ignored'; reason: string }

export class MlsGroup {
  private pending: { commit: Uint8Array; next: ClientState; change: MembershipChange } | undefined

  private constructor(
    readonly device: MlsDevice,
    private state: ClientState,
  ) {}

  /** A new group with this device alone in it. */
  static async create(device: MlsDevice, groupId: Uint8Array): Promise<MlsGroup> {
    const own = await device.generate()
    return new MlsGroup(
      device,
      await createGroup(groupId, own.pub, own.priv, [], await mlsSuite(), MLS_CONFIG),
    )
  }

  /**
   * Joins from a Welcome addressed to one of this device's key packages; undefined when it names
   * none of them. Throws when it does not verify (a forged or broken Welcome).
   */
  static async join(device: MlsDevice, welcomeBytes: Uint8Array): Promise<MlsGroup | undefined> {
    const m = readMlsMessage(welcomeBytes)
    if (m.wireformat !== 'mls_welcome') throw new TypeError('not a Welcome')
    const kept = device.keptFor(m.welcome.secrets.map((s) => s.newMember))
    if (!kept) return undefined
    const suite = await mlsSuite()
    const state = await joinGroup(
      m.welcome,
      kept.pub,
      kept.priv,
      emptyPskIndex,
      suite,
      undefined,
      undefined,
      MLS_CONFIG,
    )
    device.used(kept.ref)
    return new MlsGroup(device, state)
  }

  /** A group saved by `save` (it holds this device's group secrets: keep it as safe as the identity). */
  static load(device: MlsDevice, saved: Uint8Array): MlsGroup {
    const decoded = decodeGroupState(saved, 0)
    if (!decoded) throw new TypeError('not a saved MLS group')
    return new MlsGroup(device, { ...decoded[0], clientConfig: MLS_CONFIG })
  }

  save(): Uint8Array {
    return encodeGroupState(this.state)
  }

  get groupId(): Uint8Array {
    return this.state.groupContext.groupId
  }

  get epoch(): bigint {
    return this.state.groupContext.epoch
  }

  /** Whether this device is still a member (false once a commit removed it). */
  get active(): boolean {
    return this.state.groupActiveState.kind === 'active'
  }

  /** Whether a commit of this device waits for the log to show it. */
  get committing(): boolean {
    return this.pending !== undefined
  }

  /** The users in the group (one entry per user, whatever their devices), in leaf order. */
  members(): PublicKey[] {
    return usersOf(this.state)
  }

  /** The user of leaf 0: the group's creator (while in it; a removed creator's leaf goes blank). */
  creator(): PublicKey | undefined {
    return ownerAtLeaf(this.state, 0)
  }

  /** Each user's device signature keys (hex), to see a member's key change. */
  deviceKeys(): Map<string, string[]> {
    const out = new Map<string, string[]>()
    const tree = this.state.ratchetTree
    for (let i = 0; i < tree.length; i += 2) {
      const node = tree[i]
      if (node?.nodeType !== 'leaf') continue
      const owner = ownerOf(node.leaf.credential)
      if (!owner) continue
      const user = toHex(owner)
      out.set(user, [...(out.get(user) ?? []), toHex(node.leaf.signaturePublicKey)])
    }
    return out
  }

  isMember(user: PublicKey): boolean {
    const tree = this.state.ratchetTree
    for (let i = 0; i < tree.length; i += 2) {
      const node = tree[i]
      const owner = node?.nodeType === 'leaf' ? ownerOf(node.leaf.credential) : undefined
      if (owner && equalBytes(owner, user)) return true
    }
    return false
  }

  /**
   * A commit making `change` (users already in, or not in, are skipped): the body of an
   * `mls.commit` event and, when it adds someone, of an `mls.welcome` event. It stays pending
   * until `receive` sees its event. Undefined when there is nothing to change.
   */
  async commit(change: MembershipChange): Promise<{ commit: Uint8Array; welcome?: Uint8Array } | undefined> {
    if (this.pending) throw new Error('a commit of this device is already waiting for the log')
    if (!this.active) throw new Error('this device is no longer a member of the group')
    const proposals: Proposal[] = []
    const tree = this.state.ratchetTree
    for (let i = 0; i < tree.length; i += 2) {
      const node = tree[i]
      const owner = node?.nodeType === 'leaf' ? ownerOf(node.leaf.credential) : undefined
      if (owner && change.remove.some((u) => equalBytes(u, owner)))
        proposals.push({ proposalType: 'remove', remove: { removed: i / 2 } })
    }
    const present = new Set(usersOf(this.state).map(toHex))
    for (const kp of change.add) {
      const owner = ownerOf(kp.leafNode.credential)
      if (owner && !present.has(toHex(owner)))
        proposals.push({ proposalType: 'add', add: { keyPackage: kp } })
    }
    if (proposals.length === 0) return undefined
    const suite = await mlsSuite()
    const r = await createCommit(
      { state: this.state, cipherSuite: suite },
      { extraProposals: proposals, ratchetTreeExtension: true },
    )
    const commit = writeMlsMessage(r.commit)
    this.pending = { commit, next: r.newState, change }
    if (!r.welcome) return { commit }
    const welcome = writeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: r.welcome })
    return { commit, welcome }
  }

  /** Gives up a pending commit (its event will never be in the log, e.g. the relay refused it). */
  abandon(): MembershipChange | undefined {
    const change = this.pending?.change
    this.pending = undefined
    return change
  }

  /** An inner event encrypted for the group: the body of an `mls.message` event. */
  async encrypt(kind: string, body: Uint8Array): Promise<Uint8Array> {
    const suite = await mlsSuite()
    const inner = encodeInner({ kind, author: this.device.user, body })
    const r = await createApplicationMessage(this.state, inner, suite)
    this.state = r.newState
    return writeMlsMessage({
      version: 'mls10',
      wireformat: 'mls_private_message',
      privateMessage: r.privateMessage,
    })
  }

  /** Takes the group channel's next event (in log order); `policy` judges commits. */
  async receive(e: MlsEvent, policy: CommitPolicy = anyMember): Promise<MlsReceived> {
    if (e.kind !== MlsKind.commit && e.kind !== MlsKind.message)
      return ignored(`not an MLS group event (${e.kind})`)
    let pm: PrivateMessage
    try {
      const m = readMlsMessage(e.body)
      if (m.wireformat !== 'mls_private_message') return ignored('not a private message')
      pm = m.privateMessage
    } catch (err) {
      return ignored((err as Error).message)
    }
    if (!equalBytes(pm.groupId, this.groupId)) return ignored('another group')
    const expected = e.kind === MlsKind.commit ? 'commit' : 'application'
    if (pm.contentType !== expected) return ignored(`an ${e.kind} event holding ${pm.contentType}`)
    return e.kind === MlsKind.commit ? this.takeCommit(e, pm, policy) : this.takeMessage(e, pm)
  }

  private async takeCommit(e: MlsEvent, pm: PrivateMessage, policy: CommitPolicy): Promise<MlsReceived> {
    const pending = this.pending
    if (pending && equalBytes(pending.commit, e.body)) {
      const before = this.state
      this.state = pending.next
      this.pending = undefined
      return this.applied(before, true)
    }
    if (pm.epoch < this.epoch) return ignored('a commit of an earlier epoch (it lost, or a replay)')
    if (pm.epoch > this.epoch) return { type: 'behind', epoch: pm.epoch }
    if (!this.active) return ignored('removed from the group')
    const suite = await mlsSuite()
    const before = this.state
    // The committer must be the event's author (who the relay vouched for), the proposals adds
    // and removes only (this layer makes no others), and the policy must allow the change.
    const ownerAt = (leaf: number | undefined) => (leaf === undefined ? undefined : ownerAtLeaf(before, leaf))
    const check = (
      senderLeafIndex: number | undefined,
      proposals: readonly { proposal: Proposal }[],
    ): 'accept' | 'reject' => {
      const committer = ownerAt(senderLeafIndex)
      if (!committer || !equalBytes(committer, e.author)) return 'reject'
      const add: PublicKey[] = []
      const remove: PublicKey[] = []
      for (const { proposal: p } of proposals) {
        const owner =
          p.proposalType === 'add'
            ? ownerOf(p.add.keyPackage.leafNode.credential)
            : p.proposalType === 'remove'
              ? ownerAt(p.remove.removed)
              : undefined
        if (!owner) return 'reject'
        ;(p.proposalType === 'add' ? add : remove).push(owner)
      }
      return policy({ committer, add, remove, creator: ownerAt(0) }) ? 'accept' : 'reject'
    }
    try {
      const r = await processPrivateMessage(before, pm, makePskIndex(before, {}), suite, (incoming) =>
        incoming.kind === 'commit' ? check(incoming.senderLeafIndex, incoming.proposals) : 'reject',
      )
      if (r.kind !== 'newState' || r.actionTaken !== 'accept')
        return ignored('a commit not made by its author, or one the policy refuses')
      this.state = r.newState
    } catch (err) {
      return ignored(`commit refused: ${(err as Error).message}`)
    }
    const lost = this.pending?.change
    this.pending = undefined
    const out = this.applied(before, false)
    return lost ? { ...out, lost } : out
  }

  private async takeMessage(e: MlsEvent, pm: PrivateMessage): Promise<MlsReceived> {
    if (pm.epoch > this.epoch) return { type: 'behind', epoch: pm.epoch }
    const suite = await mlsSuite()
    let inner: InnerEvent
    let next: ClientState
    try {
      const r = await processPrivateMessage(this.state, pm, makePskIndex(this.state, {}), suite)
      if (r.kind !== 'applicationMessage') return ignored('not an application message')
      inner = decodeInner(r.message)
      next = r.newState
    } catch (err) {
      return ignored(`cannot decrypt: ${(err as Error).message}`)
    }
    this.state = next
    if (!equalBytes(inner.author, e.author)) return ignored('the inner event names another author')
    return { type: 'message', inner }
  }

  private applied(before: ClientState, mine: boolean): Extract<MlsReceived, { type: 'commit' }> {
    const was = usersOf(before)
    const now = usersOf(this.state)
    const notIn = (list: PublicKey[]) => {
      const keys = new Set(list.map(toHex))
      return (u: PublicKey) => !keys.has(toHex(u))
    }
    return {
      type: 'commit',
      // The commit's epoch (a removed member's state stays at the one it left).
      epoch: before.groupContext.epoch + 1n,
      mine,
      added: now.filter(notIn(was)),
      removed: was.filter(notIn(now)),
      removedMe: !this.active,
    }
  }
}

function ignored(reason: string): MlsReceived {
  return { type: 'ignored', reason }
}

function ownerAtLeaf(state: ClientState, leaf: number): PublicKey | undefined {
  const node = state.ratchetTree[leaf * 2]
  return node?.nodeType === 'leaf' ? ownerOf(node.leaf.credential) : undefined
}

/** Distinct users of the leaves, in leaf order (linear: a set of keys in hex). */
function usersOf(state: ClientState): PublicKey[] {
  const out: PublicKey[] = []
  const seen = new Set<string>()
  const tree = state.ratchetTree
  for (let i = 0; i < tree.length; i += 2) {
    const node = tree[i]
    const owner = node?.nodeType === 'leaf' ? ownerOf(node.leaf.credential) : undefined
    if (!owner) continue
    const hex = toHex(owner)
    if (seen.has(hex)) continue
    seen.add(hex)
    out.push(owner)
  }
  return out
}
