/**
 * A shared notes page with no chat at all: two people edit one Y.Text; every change is signed
 * by its author, stamped by a relay and fed to the other side. The "network" is an in-process
 * fan-out, so this runs anywhere: `npx tsx engine/examples/shared-notes.ts`.
 */
import {
  Identity,
  monotonicUlid,
  type StampedEvent,
  signRequest,
  stamp,
  verifyAuthor,
  verifyRelayStamp,
} from '@peerchat/engine'
import { openDoc } from '@peerchat/engine/docs'
import { useNodeCrypto } from '@peerchat/engine/node'

useNodeCrypto()
const relay = await Identity.generate()
const nextId = monotonicUlid()
const peers: ((ev: StampedEvent) => void)[] = []

/** The relay's job in two lines: stamp what an author signed, then fan it out. */
async function relayStamp(req: Awaited<ReturnType<typeof signRequest>>): Promise<StampedEvent> {
  const ev = await stamp(relay, nextId(), req)
  for (const deliver of peers) queueMicrotask(() => deliver(ev))
  return ev
}

async function joinNotes(name: string) {
  const me = await Identity.generate()
  const notes = openDoc('team', 'notes', {
    publish: async (channel, kind, body) =>
      relayStamp(
        await signRequest(me, {
          channel,
          kind,
          body,
          clientNonce: crypto.getRandomValues(new Uint8Array(16)),
        }),
      ),
  })
  // Everything that arrives is checked before it touches the document.
  peers.push(async (ev) => {
    if ((await verifyRelayStamp(ev, relay.publicKey)) && (await verifyAuthor(ev))) await notes.apply([ev])
  })
  return { name, notes, text: notes.doc.getText('page') }
}

const alice = await joinNotes('alice')
const bob = await joinNotes('bob')
alice.text.insert(0, 'Shopping list:\n')
await alice.notes.flush() // normally the 200 ms batch timer does this
await new Promise((r) => setTimeout(r, 20))
bob.text.insert(bob.text.length, '- coffee\n')
alice.text.insert(alice.text.length, '- bread\n') // concurrent with Bob's line
await Promise.all([alice.notes.flush(), bob.notes.flush()])
await new Promise((r) => setTimeout(r, 20))

for (const p of [alice, bob]) console.log(`${p.name} sees:\n${p.text.toString()}`)
console.log('history (who, when):')
for (const c of bob.notes.history())
  console.log(`  ${c.id} by ${c.author.slice(0, 8)} at ${new Date(c.ts).toISOString()}`)
await Promise.all([alice.notes.close(), bob.notes.close()])
