/** The engine README's quickstart (examples/quickstart/tasks.ts), run as written against a real relay. */
import { publicKeyFromText } from '@peerchat/engine'
import { openTaskList } from '@peerchat/example-quickstart'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../peer/scenario.ts'
import { type RelayProcess, spawnRelay } from '../relay/relay-process.ts'

let relay: RelayProcess
beforeAll(async () => {
  relay = await spawnRelay(['--channel', 'tasks'])
})
afterAll(async () => {
  await relay?.stop()
})

describe('engine quickstart', () => {
  it('two task lists on one relay see each other, pending first, then stamped', async () => {
    const key = publicKeyFromText(relay.relayKey)
    const ann = await openTaskList(relay.url, key)
    const bob = await openTaskList(relay.url, key)
    await ann.add('buy milk')
    expect(ann.titles()).toContain('buy milk (sending)')
    await until(
      () => ann.titles().includes('buy milk') && bob.titles().includes('buy milk'),
      'both lists hold it',
    )
    await bob.add('fix the bike')
    await until(() => ann.titles().includes('fix the bike'), "Ann sees Bob's task")
    expect(ann.titles()).toEqual(['buy milk', 'fix the bike'])
    await ann.close()
    await bob.close()
  })
})
