import { runTransportConformance } from '../src/conformance.ts'
import { MemoryNetwork, VirtualClock } from '../src/memory/index.ts'

runTransportConformance('memory (virtual clock)', async (count) => {
  const clock = new VirtualClock()
  const network = new MemoryNetwork({ seed: 1, clock })
  return {
    transports: Array.from({ length: count }, (_, i) => network.transport(`peer-${i}`)),
    settle: async () => {
      await clock.run()
    },
    openHandles: () => clock.pending + network.inFlight + network.attached,
  }
})

runTransportConformance('memory (real clock)', async (count) => {
  const network = new MemoryNetwork({ seed: 2, link: { latency: { min: 0, max: 1 } } })
  return {
    transports: Array.from({ length: count }, (_, i) => network.transport(`peer-${i}`)),
    settle: () => new Promise((resolve) => setTimeout(resolve, 2)),
    openHandles: () => network.inFlight + network.attached,
  }
})
