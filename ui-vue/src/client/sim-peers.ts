/**
 * Simulated peers: other people on the network who come and go, type, post, reply and react
 * now and then, each signing with their own key and going through the relay like anyone else.
 */
import {
  Identity,
  publicKeyToText,
  type SignedRequest,
  type StampedEvent,
  signRequest,
  type Ulid,
} from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { type ChatBody, encodeBody } from './bodies.ts'
import { pick, type Random, randomBytesFrom } from './prng.ts'
import { chatLine, REACTIONS } from './sim-text.ts'
import type { Privilege } from './types.ts'

export interface SimPeer {
  identity: Identity
  id: string
  name: string
  online: boolean
  privileges: Privilege[]
  typingIn: string | null
}

const NAMES = ['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Radia']
/** How long a peer "types" before its message is sent. */
const TYPING_MS = 1500

export async function createPeers(count: number): Promise<SimPeer[]> {
  const peers: SimPeer[] = []
  for (let i = 0; i < count; i++) {
    const identity = await Identity.generate()
    peers.push({
      identity,
      id: publicKeyToText(identity.publicKey),
      name: NAMES[i % NAMES.length]! + (i >= NAMES.length ? ` ${Math.floor(i / NAMES.length) + 1}` : ''),
      online: i < Math.max(1, count - 2),
      privileges: i === 0 ? ['moderator', 'post'] : ['post'],
      typingIn: null,
    })
  }
  return peers
}

export interface PeerActivityDeps {
  /** Sends a peer's signed request to the relay; resolves when stamped. */
  submit(request: SignedRequest): Promise<StampedEvent>
  peers: readonly SimPeer[]
  channels: readonly string[]
  random: Random
  /** Mean gap between two actions, ms. */
  meanGapMs: number
  /** Latest message of a channel, to reply or react to. */
  latest(channel: string): Ulid | null
  /** Names people can be mentioned by. */
  names(): readonly string[]
  presenceChanged(): void
}

export class PeerActivity {
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = false

  constructor(private readonly deps: PeerActivityDeps) {}

  start(): void {
    this.schedule()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(): void {
    if (this.stopped || this.deps.meanGapMs <= 0) return
    const gap = this.deps.meanGapMs * (0.3 + this.deps.random() * 1.4)
    this.timer = setTimeout(() => void this.act(), gap)
  }

  private async act(): Promise<void> {
    const { random, peers } = this.deps
    if (random() < 0.08) {
      // Someone comes or goes.
      const p = pick(random, peers)
      p.online = !p.online
      this.deps.presenceChanged()
      return this.schedule()
    }
    const online = peers.filter((p) => p.online)
    if (online.length === 0) return this.schedule()
    const peer = pick(random, online)
    const channel = random() < 0.6 ? this.deps.channels[0]! : pick(random, this.deps.channels)
    const body = this.chooseBody(channel)
    if (body.kind === Kind.message) {
      peer.typingIn = channel
      this.deps.presenceChanged()
      this.timer = setTimeout(() => void this.post(peer, channel, body), TYPING_MS)
      return
    }
    await this.post(peer, channel, body)
  }

  private chooseBody(channel: string): ChatBody {
    const { random } = this.deps
    const target = this.deps.latest(channel)
    const r = random()
    if (target && r < 0.2) return { kind: Kind.reaction, target, emoji: pick(random, REACTIONS), on: true }
    const text = chatLine(random, this.deps.names())
    if (target && r < 0.3) return { kind: Kind.message, text, replyTo: target }
    return { kind: Kind.message, text }
  }

  private async post(peer: SimPeer, channel: string, body: ChatBody): Promise<void> {
    if (this.stopped) return
    if (peer.typingIn) {
      peer.typingIn = null
      this.deps.presenceChanged()
    }
    const req: SignedRequest = await signRequest(peer.identity, {
      channel,
      kind: body.kind,
      clientNonce: randomBytesFrom(this.deps.random, 16),
      body: encodeBody(body),
    })
    // Not awaited: while the relay is down the post waits for it, and the others go on.
    this.deps.submit(req).catch(() => {}) // a refusal: nothing to do in a simulation
    this.schedule()
  }
}
