/**
 * The engine's quickstart: a tiny shared task list on a Replica. Nothing here is chat.
 *
 *   npx tsx examples/quickstart/tasks.ts ws://127.0.0.1:8787 <relay key>   (after `pnpm start`)
 *
 * tests/replica/quickstart.test.ts runs this same code against a real relay.
 */
import {
  type Change,
  Identity,
  MemoryStore,
  publicKeyFromText,
  Replica,
  type Store,
  utf8,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { connectReplica } from '@peerchat/transports/connect'
import WebSocket from 'ws'

export interface TaskList {
  replica: Replica
  /** Titles in relay-time order; pending ones (not stamped yet) end with " (sending)". */
  titles(): string[]
  add(title: string): Promise<void>
  close(): Promise<void>
}

export async function openTaskList(
  relayUrl: string,
  relayKey: Uint8Array,
  store: Store = new MemoryStore(),
): Promise<TaskList> {
  useNodeCrypto()
  const identity = await Identity.generate()
  // 1. The replica: a store (memory here; IndexedDB or files in an app) and the relay's key.
  const replica = await Replica.open({ store, relayKeys: [relayKey], signer: identity })
  // 2. Its view, folded from the change stream: stored events first, then every change.
  const stamped = new Map<string, string>()
  const pending = new Map<string, string>()
  await replica.subscribe('tasks', (c: Change) => {
    for (const e of c.added) stamped.set(e.id, new TextDecoder().decode(e.body))
    for (const id of c.replaced) stamped.delete(id)
    for (const w of c.writes)
      if (w.state === 'pending') pending.set(w.key, new TextDecoder().decode(w.request.body))
      else pending.delete(w.key)
  })
  // 3. The network: the relay (live events, stamps) and the WebRTC mesh (peers' history).
  //    Nothing waits for it: offline, writes queue and show as pending.
  const connection = connectReplica(replica, {
    relayUrl,
    relayKey,
    identity,
    WebSocket: WebSocket as never,
    webrtc: false,
  })
  return {
    replica,
    titles: () => [
      ...[...stamped.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, t]) => t),
      ...[...pending.values()].map((t) => `${t} (sending)`),
    ],
    async add(title) {
      await replica.write('tasks', 'task.add', utf8(title))
    },
    async close() {
      await connection.stop()
      await replica.stop()
      await store.close()
    },
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [url = 'ws://127.0.0.1:8787', key] = process.argv.slice(2)
  if (!key) throw new Error('usage: quickstart.ts <relay ws url> <relay key> (pnpm start prints both)')
  const list = await openTaskList(url, publicKeyFromText(key))
  await list.add(`hello from ${process.pid}`)
  await list.replica.stamped(list.replica.writes()[0]!).catch(() => undefined)
  console.log(list.titles())
  await list.close()
}
