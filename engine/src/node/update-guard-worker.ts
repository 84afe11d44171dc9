/** Worker entry of the Node update guard (see docs/thread-guard.ts for the protocol). */
import { parentPort } from 'node:worker_threads'
import { type GuardRequest, serveGuardRequests } from '../docs/thread-guard.ts'

serveGuardRequests(
  (handler) => parentPort?.on('message', (req: GuardRequest) => handler(req)),
  (res) => parentPort?.postMessage(res),
)
