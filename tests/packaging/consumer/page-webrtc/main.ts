// The same page with the WebRTC mesh: its code must arrive in a lazy chunk, loaded when used.
import { Identity, Replica, utf8 } from '@peerchat/engine'
import { openIndexedDbOutbox, openIndexedDbStore } from '@peerchat/store-indexeddb'
import { connectReplica } from '@peerchat/transports/connect'

const relayKey = new Uint8Array(32)
const identity = await Identity.generate()
const store = await openIndexedDbStore({ relayKey })
const outbox = await openIndexedDbOutbox({ relayKey })
const replica = await Replica.open({ store, outbox, relayKeys: [relayKey], signer: identity })
connectReplica(replica, { relayUrl: 'ws://127.0.0.1:1', relayKey, identity })
const list = document.getElementById('notes')!
await replica.subscribe('notes', (c) => {
  for (const e of c.added)
    list.append(
      Object.assign(document.createElement('li'), { textContent: new TextDecoder().decode(e.body) }),
    )
})
await replica.write('notes', 'note', utf8('hello'))
