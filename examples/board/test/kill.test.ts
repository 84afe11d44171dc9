/**
 * A member whose board runs as a child process (the CLI, src/cli.ts) is killed with SIGKILL in
 * the middle of a burst of edits made offline, then restarted from its directory: every edit it
 * acknowledged ("ok": saved on disk) is sent and reaches everyone, and it catches up with what
 * the others wrote while it was down, from them (the relay keeps no history).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliProcess, spawnCli } from './cli-process.ts'
import { converged, meshed, startWorld, type TaskState, until, type World } from './harness.ts'

let world: World
let cat: CliProcess | undefined
beforeAll(async () => {
  world = await startWorld()
})
afterAll(async () => {
  cat?.child.kill('SIGKILL')
  await world?.stop()
})

/** The CLI's board, read with its `json` command. */
const stateOf = (cli: CliProcess) => ({
  state: async () => (JSON.parse(await cli.call('json')) as { tasks: TaskState[] }).tasks,
})

describe('board: kill -9 and restart', () => {
  it('keeps what it acknowledged and catches up with what others wrote meanwhile', {
    timeout: 120_000,
  }, async () => {
    const ann = await world.open('ann')
    const ben = await world.open('ben')
    // `--key=`: a base64url key may start with '-', which parseArgs would take for an option.
    const args = ['--relay', world.relay.url, `--key=${world.relay.relayKey}`, '--dir', world.dir('cat')]
    cat = await spawnCli(args)
    await meshed([ann, ben], 2) // Cat is the third

    const first = (await cat.call('add cat: before the kill')).replace(/^ok /, '')
    expect(await cat.call(`desc ${first} typed by cat`)).toBe(`ok ${first}`)
    await converged([ann, ben, stateOf(cat)], "Cat's task on every board", (s) =>
      s.some((t) => t.id === first && t.description === 'typed by cat'),
    )

    // Offline (so nothing it writes now is stamped before the kill), a burst of adds, killed
    // once five are acknowledged: those exist only in Cat's outbox file.
    expect(await cat.call('offline')).toBe('ok offline')
    const answers: string[] = []
    for (let i = 0; i < 20; i++) void cat.call(`add burst ${i}`).then((a) => answers.push(a))
    await until(() => answers.length >= 5, 'five adds of the burst acknowledged')
    cat.child.kill('SIGKILL')
    await cat.exited
    expect(answers.every((a) => a.startsWith('ok '))).toBe(true)
    const acknowledged = [first, ...answers.map((a) => a.slice(3))]
    expect((await ann.tasks()).filter((t) => acknowledged.includes(t.id))).toHaveLength(1)

    // While Cat is down, Ann and Ben go on.
    await ben.move(first, { status: 'doing' })
    await ann.insert(first, 'typed by cat'.length, ', then by ann')
    const annTask = await ann.add('ann: while cat was down')
    const benTask = await ben.add('ben: while cat was down')
    await converged([ann, ben], 'Ann and Ben agree', (s) =>
      [annTask, benTask].every((id) => s.some((t) => t.id === id)),
    )

    // Cat restarts from its directory.
    cat = await spawnCli(args)
    const final = await converged(
      [ann, ben, stateOf(cat)],
      'Cat caught up, and every board holds what Cat acknowledged',
      (s) => [...acknowledged, annTask, benTask].every((id) => s.some((t) => t.id === id)),
    )
    expect(final.find((t) => t.id === first)).toMatchObject({
      status: 'doing',
      description: 'typed by cat, then by ann',
    })
  })
})
