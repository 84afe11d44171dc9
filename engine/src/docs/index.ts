/** `@peerchat/engine/docs`: signed, guarded Yjs documents carried as `yjs` events. The only entry that loads Yjs. */
export { DocLimits, decodeYjs, encodeYjs, isValidDocName, YJS_KIND, type YjsBody } from './body.ts'
export * from './doc-handle.ts'
export * from './guard.ts'
export * from './presence.ts'
export {
  DocRegistry,
  DocRegistryDefaults,
  type DocRegistryOptions,
  type DocRegistryPort,
} from './registry.ts'
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
