export * from './doc-handle.ts'
export * from './guard.ts'
export * from './snapshot.ts'
export {
  createThreadGuard,
  DEFAULT_GUARD_DEADLINE_MS,
  type GuardRequest,
  type GuardResponse,
  type GuardThread,
  type GuardThreadEvents,
  serveGuardRequests,
} from './thread-guard.ts'
export { createWebWorkerGuard, type WebWorkerGuardOptions, type WebWorkerLike } from './web-worker-guard.ts'
