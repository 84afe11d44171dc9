export {
  boundBetween,
  decodeFrame as decodeReconcileFrame,
  encodeFrame as encodeReconcileFrame,
  type Frame as ReconcileFrame,
  MAX_EVENTS,
  MAX_FRAME_BYTES,
  MAX_ID_LIST,
  MAX_RANGES,
  Mode as ReconcileMode,
  RECONCILE_VERSION,
  type WireRange,
} from './frame.ts'
export { type LocalRun, MAX_LOCAL_FRAMES, reconcileLocally } from './local.ts'
export * from './reconciler.ts'
