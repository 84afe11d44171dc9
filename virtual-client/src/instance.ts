/**
 * The entry of `dist/vc-instance.mjs`: everything one virtual client needs, bundled into a
 * single file with no workspace imports left (only `@roamhq/wrtc`, a native module, stays
 * external). host.ts imports that file once per client under a different URL, so each
 * client gets module instances of its own — y-webrtc's room and signaling maps, Yjs, the
 * engine's crypto backend — while all share one Node runtime and one libwebrtc.
 *
 * The bundle is built with `BroadcastChannel` defined as `undefined`: lib0 then falls back
 * to an in-instance polyfill. Node's real BroadcastChannel spans the whole process, and
 * y-webrtc would take two clients of one process for browser tabs of one origin: it would
 * pass its awareness and document messages between them through it, outside the WebRTC
 * connection that the relay's signaling authenticates (and, with `filterBcConns`, would skip
 * that connection for peers whose announced ids match — ours are rebound, so it does not).
 */
import { useNodeCrypto } from '@peerchat/engine/node'
import { VirtualClient, type VirtualClientOptions } from './virtual-client.ts'

export async function startInstance(opts: VirtualClientOptions): Promise<VirtualClient> {
  useNodeCrypto()
  return VirtualClient.start(opts)
}
