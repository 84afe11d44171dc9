// Plain Node ESM, no TypeScript loader: two replicas on the memory network converge.
// Ann writes while Bob is away; Bob comes back and catches up from Ann over the mesh
// (the memory relay, like the real one, keeps no history).
import { Identity, MemoryStore, Replica, utf8 } from '@peerchat/engine'
import { MemoryNetwork, MemoryRelay } from '@peerchat/transports/memory'

const relay = new MemoryRelay({ signer: await Identity.generate() })
const network = new MemoryNetwork({ seed: 1 })
const text = (e) => new TextDecoder().decode(e.body)

async function open(name) {
  const replica = await Replica.open({
    store: new MemoryStore(),
    relayKeys: [relay.publicKey],
    signer: await Identity.generate(),
  })
  const seen = new Set()
  await replica.subscribe('notes', (c) => {
    for (const e of c.added) seen.add(text(e))
  })
  const mesh = network.transport(name)
  const join = async () => {
    replica.connect(relay.client())
    replica.attach(mesh)
    await mesh.start()
  }
  return { replica, seen, join }
}

const ann = await open('ann')
await ann.join()
for (const n of ['one', 'two', 'three'])
  await ann.replica.stamped(await ann.replica.write('notes', 'note', utf8(n)))
const bob = await open('bob')
await bob.join()
await bob.replica.stamped(await bob.replica.write('notes', 'note', utf8('four')))

const deadline = Date.now() + 20_000
while (!(ann.seen.size === 4 && bob.seen.size === 4)) {
  if (Date.now() > deadline) throw new Error(`no convergence: ann ${[...ann.seen]} bob ${[...bob.seen]}`)
  await new Promise((r) => setTimeout(r, 20))
}
console.log(JSON.stringify({ ann: [...ann.seen].sort(), bob: [...bob.seen].sort() }))
await ann.replica.stop()
await bob.replica.stop()
