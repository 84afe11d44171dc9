/**
 * Node glue for the WebRTC transport: `@roamhq/wrtc` supplies RTCPeerConnection and `ws`
 * the WebSocket that y-webrtc's signaling client expects as a global.
 */
import { createRequire } from 'node:module'
import WebSocket from 'ws'

const require = createRequire(import.meta.url)

export function nodeWebrtc(): { wrtc: unknown } {
  const g = globalThis as { WebSocket?: unknown }
  g.WebSocket ??= WebSocket
  return { wrtc: require('@roamhq/wrtc') }
}
