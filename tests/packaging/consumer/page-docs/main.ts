// The browser update guard from the installed package, after vite bundling: a remote Yjs edit
// passes the Web Worker guard (started from the bundled string) and reaches the other Y.Doc.
import { Identity, MemoryStore, Replica, type StampedEvent } from '@peerchat/engine'
import { createWebWorkerGuard, openDoc } from '@peerchat/engine/docs'
import { MemoryRelay } from '@peerchat/transports/memory'

const relay = new MemoryRelay({ signer: await Identity.generate() })
const guard = createWebWorkerGuard()

async function side() {
  const replica = await Replica.open({
    store: new MemoryStore(),
    relayKeys: [relay.publicKey],
    signer: await Identity.generate(),
  })
  replica.connect(relay.client())
  const host = {
    publish: async (channel: string, kind: string, body: Uint8Array): Promise<StampedEvent> =>
      replica.stamped(await replica.write(channel, kind, body)),
  }
  const handle = openDoc('docs', 'notes', host, { guard, batchMs: 10 })
  const refused: string[] = []
  await replica.subscribe('docs', async (c) => {
    const r = await handle.apply(c.added)
    refused.push(...r.rejected.map((x) => x.reason))
  })
  return { handle, refused }
}

const a = await side()
const b = await side()
a.handle.doc.getText('t').insert(0, 'hello from a')
const deadline = Date.now() + 20_000
while (b.handle.doc.getText('t').toString() !== 'hello from a' && Date.now() < deadline)
  await new Promise((r) => setTimeout(r, 20))
document.title = JSON.stringify({ text: b.handle.doc.getText('t').toString(), refused: b.refused })
