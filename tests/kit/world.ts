/**
 * Replicas for the kit and docs tests, on one virtual clock, a memory relay and (for peers that
 * ask) a memory mesh; imported through the package entries only, as an application would.
 */
import { Identity, MemoryStore, Replica, type SignedRequest, VirtualClock } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { MemoryNetwork, MemoryRelay } from '@peerchat/transports/memory'

export const T0 = 1_750_000_000_000

export interface WorldOptions {
  /** The relay refuses a request when this returns a reason. */
  refuse?: (r: SignedRequest) => { code: string; message: string } | undefined
}

export type World = Awaited<ReturnType<typeof world>>

export async function world(o: WorldOptions = {}) {
  useNodeCrypto()
  const clock = new VirtualClock(T0)
  const network = new MemoryNetwork({ seed: 3, clock })
  const relay = new MemoryRelay({
    signer: await Identity.generate(),
    clock,
    ...(o.refuse ? { refuse: o.refuse } : {}),
  })
  const replicas: Replica[] = []
  const closers: (() => Promise<void> | void)[] = []
  let n = 0
  /** A replica with its own store and key, connected to the relay; on the mesh with `mesh`. */
  const peer = async (opts: { mesh?: boolean } = {}) => {
    const replica = await Replica.open({
      store: new MemoryStore(),
      relayKeys: [relay.publicKey],
      signer: await Identity.generate(),
      clock,
      random: () => 0.5,
    })
    replicas.push(replica)
    const port = relay.client()
    replica.connect(port)
    if (opts.mesh) {
      const transport = network.transport(`p${n++}`)
      replica.attach(transport)
      await transport.start()
    }
    return { replica, port }
  }
  /** Runs `close` at `stop`, before any replica stops (registries, projections). */
  const onStop = (close: () => Promise<void> | void) => {
    closers.push(close)
  }
  const stop = async () => {
    for (const close of closers) await close()
    for (const r of replicas) await r.stop()
  }
  return { clock, network, relay, peer, onStop, stop }
}
