/**
 * Node glue for the WebRTC transport (`@peerchat/transports/webrtc/node`): a native
 * RTCPeerConnection and the WebSocket y-webrtc's signaling client expects as a global. Both
 * are optional peer dependencies: pass them in, or install `@roamhq/wrtc` and `ws` next to the
 * app and they are loaded here. Browser bundles never reach this module.
 */
import { createRequire } from 'node:module'
import type { WebSocketCtor } from '../relay/index.ts'

export interface NodeWebrtcDeps {
  /** The `@roamhq/wrtc` module (or any with RTCPeerConnection & co). */
  wrtc?: unknown
  /** The `ws` package's WebSocket (Node 20 has no global WebSocket). */
  WebSocket?: unknown
}

const require = createRequire(import.meta.url)

function load(name: string): unknown {
  try {
    return require(name)
  } catch (err) {
    throw new Error(`WebRTC in Node needs the optional peer dependency ${name}: npm install ${name}`, {
      cause: err,
    })
  }
}

/** Returns the options for `connectReplica` / `WebrtcTransport`, and sets the global WebSocket if unset. */
export function nodeWebrtc(deps: NodeWebrtcDeps = {}): { wrtc: unknown; WebSocket: WebSocketCtor } {
  const g = globalThis as { WebSocket?: unknown }
  const WebSocket = (deps.WebSocket ?? g.WebSocket ?? load('ws')) as WebSocketCtor
  g.WebSocket ??= WebSocket
  return { wrtc: deps.wrtc ?? load('@roamhq/wrtc'), WebSocket }
}
