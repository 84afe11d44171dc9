// Type-checked by the consumer's own `tsc` (strict, nodenext): every entry's declarations.
import {
  type Change,
  Identity,
  MemoryStore,
  Replica,
  type StampedEvent,
  type Store,
  utf8,
} from '@peerchat/engine'
import { type BlobStore, MemoryBlobStore } from '@peerchat/engine/blobs'
import { ChannelView, decodeMessage, Kind } from '@peerchat/engine/chat'
import { type DocHandle, openDoc, YJS_KIND } from '@peerchat/engine/docs'
import { createWorkerGuard, useNodeCrypto } from '@peerchat/engine/node'
import { runStoreConformance } from '@peerchat/engine/testing'
import { FileBlobStore, FileOutboxStore, FileStore } from '@peerchat/store-file'
import { openIndexedDbStore } from '@peerchat/store-indexeddb'
import { connectReplica } from '@peerchat/transports/connect'
import { MemoryNetwork, MemoryRelay } from '@peerchat/transports/memory'
import { RelayClient } from '@peerchat/transports/relay'
import { nodeWebrtc } from '@peerchat/transports/webrtc/node'

export async function main(): Promise<number> {
  useNodeCrypto()
  const signer = await Identity.generate()
  const relay = new MemoryRelay({ signer })
  const store: Store = new MemoryStore()
  const replica = await Replica.open({ store, relayKeys: [relay.publicKey], signer })
  const stop: () => void = replica.connect(relay.client())
  replica.attach(new MemoryNetwork({ seed: 1 }).transport('a'))
  const seen: StampedEvent[] = []
  await replica.subscribe('notes', (c: Change) => seen.push(...c.added))
  const write = await replica.write('notes', Kind.message, utf8('hi'))
  const view = new ChannelView('notes')
  const blobs: BlobStore = new MemoryBlobStore()
  const doc: DocHandle = openDoc(
    'notes',
    'n',
    { publish: async () => undefined },
    { guard: createWorkerGuard() },
  )
  const kinds: string[] = [YJS_KIND, write.key]
  stop()
  void decodeMessage
  void runStoreConformance
  void [
    FileStore,
    FileBlobStore,
    FileOutboxStore,
    openIndexedDbStore,
    connectReplica,
    RelayClient,
    nodeWebrtc,
    view,
    blobs,
    doc,
  ]
  return seen.length + kinds.length
}
