/** Worker entry of the browser update guard (see thread-guard.ts for the protocol). */
import { type GuardRequest, type GuardResponse, serveGuardRequests } from './thread-guard.ts'

// A dedicated worker's global scope; typed narrowly so this file needs no WebWorker lib.
const scope = globalThis as unknown as {
  addEventListener(type: 'message', listener: (e: { data: GuardRequest }) => void): void
  postMessage(message: GuardResponse): void
}

serveGuardRequests(
  (handler) => scope.addEventListener('message', (e) => handler(e.data)),
  (res) => scope.postMessage(res),
)
