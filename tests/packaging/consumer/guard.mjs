// The Node update guard from the package: a remote Yjs edit passes the worker guard and
// reaches the Y.Doc. Run as is and after bundling with esbuild (the worker must still start).
import { Identity, MemoryStore, Replica } from '@peerchat/engine'
import { openDoc } from '@peerchat/engine/docs'
import { createWorkerGuard, useNodeCrypto } from '@peerchat/engine/node'
import { MemoryRelay } from '@peerchat/transports/memory'

useNodeCrypto()
const relay = new MemoryRelay({ signer: await Identity.generate() })
const guard = createWorkerGuard()
async function side() {
  const replica = await Replica.open({
    store: new MemoryStore(),
    relayKeys: [relay.publicKey],
    signer: await Identity.generate(),
  })
  replica.connect(relay.client())
  const host = {
    publish: async (channel, kind, body) => replica.stamped(await replica.write(channel, kind, body)),
  }
  const handle = openDoc('docs', 'notes', host, { guard, batchMs: 10 })
  const refused = []
  await replica.subscribe('docs', async (c) => {
    const r = await handle.apply(c.added)
    refused.push(...r.rejected.map((x) => x.reason))
  })
  return { replica, handle, refused }
}
const a = await side()
const b = await side()
a.handle.doc.getText('t').insert(0, 'hello from a')
const deadline = Date.now() + 20_000
while (b.handle.doc.getText('t').toString() !== 'hello from a') {
  if (Date.now() > deadline)
    throw new Error(`the edit never reached b (refused: ${b.refused.join(', ') || 'none'})`)
  await new Promise((r) => setTimeout(r, 20))
}
console.log(JSON.stringify({ text: b.handle.doc.getText('t').toString(), refused: b.refused }))
guard.close()
await a.replica.stop()
await b.replica.stop()
