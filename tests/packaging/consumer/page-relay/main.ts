// A page on the relay transport alone: no WebRTC, so neither simple-peer nor wrtc nor ws may be bundled.
import { Identity, Replica, utf8 } from '@peerchat/engine'
import { openIndexedDbOutbox, openIndexedDbStore } from '@peerchat/store-indexeddb'
import { RelayClient } from '@peerchat/transports/relay'

const relayKey = new Uint8Array(32)
const identity = await Identity.generate()
const store = await openIndexedDbStore({ relayKey })
const outbox = await openIndexedDbOutbox({ relayKey })
const replica = await Replica.open({ store, outbox, relayKeys: [relayKey], signer: identity })
replica.connect(
  new RelayClient({ url: 'ws://127.0.0.1:1/relay', identity, relayKey, channels: replica.channels }),
)
const list = document.getElementById('notes')!
await replica.subscribe('notes', (c) => {
  for (const e of c.added)
    list.append(
      Object.assign(document.createElement('li'), { textContent: new TextDecoder().decode(e.body) }),
    )
})
await replica.write('notes', 'note', utf8('hello'))
