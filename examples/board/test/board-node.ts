/**
 * One member's board in its own process (y-webrtc allows one room per process): `openBoardNode`
 * on a directory, driven over IPC by `BoardPeer` (harness.ts) with the ops below.
 */
import { serveOps } from '../../../tests/peer/replica-node.ts'
import type { Move, Status } from '../src/board.ts'
import { type BoardNode, openBoardNode } from '../src/node.ts'
import { stateOf } from './state.ts'

let node: BoardNode
/** The links over which peers sent this board events (`webrtc`, `relay forwarding`). */
const links = new Set<string>()

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const board = () => node.board

type Args = Record<string, unknown>

serveOps({
  async open(m: Args) {
    node = await openBoardNode(m as never)
    await node.replica.subscribe(
      board().channel,
      (c) => {
        if (c.source.via === 'peer' && c.added.length > 0) links.add(c.source.link)
      },
      { replay: false },
    )
  },
  add: async (m: Args) => board().add(m.title as string, m as { status?: Status; assignee?: string }),
  update: async (m: Args) =>
    board().update(m.task as string, m.edit as { title?: string; assignee?: string }),
  move: async (m: Args) => board().move(m.task as string, m.to as Move),
  remove: async (m: Args) => board().remove(m.task as string),
  /** Inserts `text` at `index` of a description, at once. */
  async insert(m: Args) {
    const text = await board().description(m.task as string)
    text.insert(m.index as number, m.text as string)
  },
  /** Types `text` at the end of the line that starts with `line`, a character every 15 ms. */
  async typeOnLine(m: Args) {
    const description = await board().description(m.task as string)
    for (const character of m.text as string) {
      const s = description.toString()
      description.insert(s.indexOf('\n', s.indexOf(m.line as string)), character)
      await sleep(15)
    }
  },
  state: async () => stateOf(board()),
  pending: async (m: Args) => board().isPending(m.task as string),
  links: async () => [...links],
  async online() {
    const c = node.connection
    return c?.relay.state === 'online' ? (c.mesh?.peers().size ?? 0) : -1
  },
  disconnect: () => node.disconnect(),
  async connect() {
    node.connect()
  },
  close: () => node.close(),
})
