/**
 * Joins a Replica to a community: the relay client (login, live events, stamping), and once
 * logged in the WebRTC mesh through the relay's signaling path, with relay forwarding as the
 * fallback. Nothing here waits for the network: the replica works offline, and the links come
 * and go (reconnects, token refreshes) underneath it. The same wiring serves the browser,
 * virtual clients and test processes; only the WebSocket/WebRTC implementations differ.
 */
import { publicKeyFromText, publicKeyToText, type Replica, type Signer, toBase64url } from '@peerchat/engine'
import { RelayClient, RelayForwardTransport, type WebSocketCtor } from './relay/index.ts'
import { MemberLookup } from './relay/member-lookup.ts'
import type { LinkSecret, SignalingToken } from './relay/relay-client.ts'

export type { LinkOutcome, LinkSecret } from './relay/relay-client.ts'

import type { PeerInfo } from './transport.ts'
import type { WebrtcTransport } from './webrtc/webrtc-transport.ts'

export interface ConnectOptions {
  /**
   * ws(s)://host:port of the relay (its /relay and /signal paths are appended), or of each node
   * of the community (same relay key): the relay client fails over between them, and the mesh
   * signals through the node of the current session.
   */
  relayUrl: string | readonly string[]
  relayKey: Uint8Array
  identity: Signer
  /** The y-webrtc room of the community. */
  room?: string
  /** Mesh over WebRTC (default true). Its code is loaded only when used. */
  webrtc?: boolean
  /** Peer frames through the relay when WebRTC cannot connect, within its byte budget (default true). */
  fallback?: boolean
  WebSocket?: WebSocketCtor
  /** Node: `nodeWebrtc().wrtc`. */
  wrtc?: unknown
  /** Keys known to be virtual clients (served last). */
  isVirtual?: (key: Uint8Array) => boolean
  /**
   * A claim or invite link's secret for the login (`RelayClient`'s `link`): its admin event is
   * published right after the welcome, then the secret is forgotten.
   */
  link?: LinkSecret
}

export interface Connection {
  readonly relay: RelayClient
  /** The WebRTC mesh, once the first login brought a signaling token (undefined before). */
  readonly mesh: WebrtcTransport | undefined
  readonly fallback: RelayForwardTransport | undefined
  /**
   * Looks up keys outside the heads the relay pushes (large channels): the mesh's admission and
   * the fallback use it; so may anything else that checks presence (voice).
   */
  readonly lookup: MemberLookup
  /** Resolves with the mesh when it is up (undefined without WebRTC, or when stopped first). */
  readonly meshReady: Promise<WebrtcTransport | undefined>
  /** Drops every link (relay and mesh); the replica and its store stay: it is offline. Idempotent. */
  stop(): Promise<void>
}

/** A y-webrtc peer id is `<key>.<serial>` (the relay binds it); its key prefix names the sender. */
export function keyOfPeerId(peerId: string): string {
  const dot = peerId.indexOf('.')
  return dot > 0 ? peerId.slice(0, dot) : peerId
}

/** A node's relay endpoint (what `RelayClient` connects to) by its base URL. */
const relayEndpoint = (base: string): string => `${base.replace(/\/+$/, '')}/relay`

export function connectReplica(replica: Replica, o: ConnectOptions): Connection {
  const bases = typeof o.relayUrl === 'string' ? [o.relayUrl] : o.relayUrl
  /** Each node's base URL by its relay endpoint: a signaling token is good on its own node only. */
  const baseOf = new Map(bases.map((b) => [relayEndpoint(b), b.replace(/\/+$/, '')]))
  const relay = new RelayClient({
    url: [...baseOf.keys()],
    identity: o.identity,
    relayKey: o.relayKey,
    channels: replica.channels,
    ...(o.WebSocket ? { WebSocket: o.WebSocket } : {}),
    ...(o.link ? { link: o.link } : {}),
  })
  const detach: (() => void)[] = [replica.connect(relay)]
  let stopped = false
  const lookup = new MemberLookup(relay, () => replica.channels)

  // Serve a mesh peer only while its key is in the relay's signed presence of our channels. The
  // relay pushes only each channel's head: a key outside it is looked up, and the mesh re-admits
  // when the answer lands (the 'presence' event below).
  const admit = (peerId: string): PeerInfo | undefined => {
    const key = keyOfPeerId(peerId)
    for (const c of replica.channels)
      for (const s of relay.members(c).values())
        if (publicKeyToText(s.publicKey) === key)
          return { key: s.publicKey, kind: o.isVirtual?.(s.publicKey) ? 'virtual' : 'client' }
    try {
      lookup.want(publicKeyFromText(key))
    } catch {
      // not a key: nobody to look up
    }
    return undefined
  }

  let fallback: RelayForwardTransport | undefined
  if (o.fallback ?? true) {
    fallback = new RelayForwardTransport(relay, () => replica.channels, {
      ...(o.isVirtual ? { isVirtual: o.isVirtual } : {}),
      lookup: (key) => lookup.want(key),
    })
    detach.push(replica.attach(fallback))
  }

  let mesh: WebrtcTransport | undefined
  // Unique per connection: two tabs (or processes) of one key are two mesh peers, never one id.
  const peerId = `${publicKeyToText(o.identity.publicKey)}.${toBase64url(crypto.getRandomValues(new Uint8Array(6)))}`
  const signalUrl = (t: SignalingToken) => `${baseOf.get(t.url)}/signal?token=${toBase64url(t.token)}`

  /** The mesh needs a signaling token, so it starts after the first login. */
  const startMesh = async (): Promise<WebrtcTransport | undefined> => {
    if (!(o.webrtc ?? true)) return undefined
    await new Promise<void>((resolve) => {
      if (relay.state === 'online' || stopped) return resolve()
      const off = relay.on('state', (s) => {
        if (s !== 'online' && s !== 'stopped') return
        off()
        resolve()
      })
    })
    for (;;) {
      if (stopped) return undefined
      try {
        const token = await relay.requestToken()
        const { WebrtcTransport } = await import('./webrtc/webrtc-transport.ts')
        if (stopped) return undefined
        mesh = new WebrtcTransport({
          room: o.room ?? 'community',
          signaling: [signalUrl(token)],
          peerId,
          ...(o.wrtc ? { wrtc: o.wrtc } : {}),
          admit,
        })
        detach.push(relay.on('presence', () => mesh?.readmit()))
        await mesh.start()
        if (stopped) return mesh // stop() stops it
        detach.push(replica.attach(mesh))
        // Signaling reconnects (after a relay restart, say) need an unexpired token of the live
        // session: the relay client fetches one at every login and before the current one runs out.
        // After a failover the token names the new node, and the mesh moves its signaling there.
        detach.push(relay.keepSignalingToken((t) => mesh?.updateSignaling([signalUrl(t)])))
        return mesh
      } catch {
        // The connection dropped before the token came: try again at the next login.
        await new Promise<void>((resolve) => {
          const off = relay.on('state', (s) => {
            if (s !== 'online' && s !== 'stopped') return
            off()
            resolve()
          })
        })
      }
    }
  }

  void relay.start()
  void fallback?.start()
  const meshReady = startMesh()

  return {
    relay,
    get mesh() {
      return mesh
    },
    fallback,
    lookup,
    meshReady,
    async stop() {
      if (stopped) return
      stopped = true
      lookup.stop()
      for (const off of detach.splice(0)) off()
      await relay.stop() // wakes a mesh start still waiting for a login
      await meshReady
      await mesh?.stop()
      await fallback?.stop()
    },
  }
}
