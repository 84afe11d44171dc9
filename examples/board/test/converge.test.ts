/**
 * Three members edit one board at the same time, over a real relay process and real WebRTC:
 * adds, moves, three retitles of one task, edits of different fields of another, a removal
 * racing an edit, and three people typing into one description. All three end with the same
 * board, and each rule of the model shows in it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged, meshed, startWorld, type World } from './harness.ts'

let world: World
beforeAll(async () => {
  world = await startWorld()
})
afterAll(async () => {
  await world?.stop()
})

const NAMES = ['ann', 'ben', 'cat'] as const
const LINES = 'ann:\nben:\ncat:\n'

describe('board: three members at once', () => {
  it('converge under concurrent adds, moves, edits and typing', { timeout: 120_000 }, async () => {
    const boards = await Promise.all(NAMES.map((name) => world.open(name)))
    const [ann, ben, cat] = boards as [(typeof boards)[0], (typeof boards)[0], (typeof boards)[0]]
    await meshed(boards)

    // Everyone adds three tasks at once.
    await Promise.all(
      boards.map(async (board, i) => {
        for (let k = 1; k <= 3; k++) await board.add(`${NAMES[i]} ${k}`, { assignee: NAMES[i] })
      }),
    )
    const tasks = await converged(boards, 'nine tasks on every board', (s) => s.length === 9)
    const idOf = (title: string) => tasks.find((t) => t.title === title)!.id
    const [shared, raced, doomed] = [idOf('ann 1'), idOf('ben 1'), idOf('cat 1')]
    await ann.insert(shared, 0, LINES)
    await converged(boards, 'the description lines on every board', (s) =>
      s.some((t) => t.description === LINES),
    )

    // All at once.
    await Promise.all([
      // Three retitles of one task: one wins, the same everywhere.
      ann.update(raced, { title: 'raced by ann' }),
      ben.update(raced, { title: 'raced by ben' }),
      cat.update(raced, { title: 'raced by cat' }),
      // A move, a retitle and a new assignee of one task: different fields, all three stay.
      ann.move(shared, { status: 'done' }),
      ben.update(shared, { title: 'shared, retitled by ben' }),
      cat.update(shared, { assignee: 'cat' }),
      // A removal racing an edit: the removal is final. (Cat's edit is refused if the removal
      // reached Cat first; either way the task stays removed.)
      ann.remove(doomed),
      cat.update(doomed, { title: 'edited while removed' }).catch((e) => expect(`${e}`).toMatch(/no task/)),
      // Each member moves its tasks 2 and 3 into doing (3 before 2), and adds a fourth.
      ...boards.map(async (board, i) => {
        await board.move(idOf(`${NAMES[i]} 2`), { status: 'doing' })
        await board.move(idOf(`${NAMES[i]} 3`), { before: idOf(`${NAMES[i]} 2`) })
        await board.add(`${NAMES[i]} 4`)
      }),
      // And everyone types on its own line of the shared description.
      ...boards.map((board, i) => board.typeOnLine(shared, `${NAMES[i]}:`, ` ${NAMES[i]} was here`)),
    ])

    const final = await converged(boards, 'the three boards to agree')
    const task = (id: string) => final.find((t) => t.id === id)
    expect(task(shared)).toMatchObject({ title: 'shared, retitled by ben', status: 'done', assignee: 'cat' })
    expect(task(shared)!.description).toBe('ann: ann was here\nben: ben was here\ncat: cat was here\n')
    expect(['raced by ann', 'raced by ben', 'raced by cat']).toContain(task(raced)!.title)
    expect(task(doomed)).toBeUndefined()
    const doing = final.filter((t) => t.status === 'doing').map((t) => t.title)
    expect(doing).toHaveLength(6)
    for (const name of NAMES) expect(doing.indexOf(`${name} 3`)).toBeLessThan(doing.indexOf(`${name} 2`))
    expect(final.filter((t) => t.status === 'todo').map((t) => t.title)).toEqual(
      expect.arrayContaining(['ann 4', 'ben 4', 'cat 4']),
    )
    expect(final).toHaveLength(11)
  })
})
