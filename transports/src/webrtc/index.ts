export { type BlobMesh, meshBlobPort } from './blob-port.ts'
export { DEFAULT_PIPE_LIMITS, FramePipe, type PipeLimits } from './pipe.ts'
export {
  BULK_CHANNEL_ID,
  ENGINE_CHANNEL_ID,
  WebrtcTransport,
  type WebrtcTransportOptions,
} from './webrtc-transport.ts'
