/**
 * What the board's tests share: a real relay process with the `board` channel, members' boards
 * each in a process of its own (board-node.ts; y-webrtc allows one room per process) joined to
 * it and to each other over WebRTC, and waiting until they agree.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PeerProcess } from '../../../tests/peer/peer-process.ts'
import { BURST_LIMITS, until } from '../../../tests/peer/scenario.ts'
import { type RelayProcess, spawnRelay } from '../../../tests/relay/relay-process.ts'
import type { Move, Status, Task } from '../src/board.ts'
import type { TaskState } from './state.ts'

export { sleep, until } from '../../../tests/peer/scenario.ts'
export type { TaskState } from './state.ts'

export const CHANNEL = 'board'
const CHILD = fileURLToPath(new URL('./board-node.ts', import.meta.url))

/** One member's board in a child process. */
export class BoardPeer {
  private constructor(private readonly process: PeerProcess) {}

  static async open(
    name: string,
    o: { relay: RelayProcess; dir: string; fallback?: boolean },
  ): Promise<BoardPeer> {
    const peer = new BoardPeer(new PeerProcess(name, CHILD))
    await peer.call('open', {
      relayUrl: o.relay.url,
      relayKey: o.relay.relayKey,
      dir: o.dir,
      fallback: o.fallback,
    })
    return peer
  }

  /** (`id` is the IPC call's: a task id travels as `task`.) */
  private call<T>(op: string, args: object = {}): Promise<T> {
    return this.process.call<T>(op, args)
  }

  add = (title: string, o: { status?: Status; assignee?: string } = {}) =>
    this.call<string>('add', { title, ...o })
  update = (id: string, edit: { title?: string; assignee?: string }) =>
    this.call<void>('update', { task: id, edit })
  move = (id: string, to: Move) => this.call<void>('move', { task: id, to })
  remove = (id: string) => this.call<void>('remove', { task: id })
  insert = (id: string, index: number, text: string) => this.call<void>('insert', { task: id, index, text })
  typeOnLine = (id: string, line: string, text: string) =>
    this.call<void>('typeOnLine', { task: id, line, text })
  state = () => this.call<TaskState[]>('state')
  tasks = async (): Promise<Task[]> => (await this.state()).map(({ description: _, ...task }) => task)
  pending = (id: string) => this.call<boolean>('pending', { task: id })
  /** The links peers' events came over. */
  links = () => this.call<string[]>('links')
  /** WebRTC peers linked, or -1 while not logged in to the relay. */
  online = () => this.call<number>('online')
  disconnect = () => this.call<void>('disconnect')
  connect = () => this.call<void>('connect')

  async close(): Promise<void> {
    await this.call('close').catch(() => undefined)
    this.process.kill()
  }
}

export interface World {
  relay: RelayProcess
  /** A member's directory (the same across restarts). */
  dir(name: string): string
  open(name: string, o?: { fallback?: boolean }): Promise<BoardPeer>
  stop(): Promise<void>
}

/**
 * A relay with the board channel, its limits raised for test bursts (every member shares one
 * address), and members' boards on it: `stop` closes them all and removes their files.
 */
export async function startWorld(): Promise<World> {
  const limits = Object.entries(BURST_LIMITS).flatMap(([k, v]) => ['--limit', `${k}=${v}`])
  const relay = await spawnRelay(['--channel', CHANNEL, '--quiet', ...limits])
  const root = mkdtempSync(join(tmpdir(), 'peerchat-board-'))
  const peers: BoardPeer[] = []
  return {
    relay,
    dir: (name) => join(root, name),
    async open(name, o = {}) {
      const peer = await BoardPeer.open(name, { relay, dir: join(root, name), ...o })
      peers.push(peer)
      return peer
    },
    async stop() {
      await Promise.all(peers.map((p) => p.close()))
      await relay.stop()
      rmSync(root, { recursive: true, force: true })
    },
  }
}

/** Waits until every board is logged in to the relay and linked to `links` others over WebRTC. */
export async function meshed(peers: BoardPeer[], links = peers.length - 1): Promise<void> {
  await until(
    async () => (await Promise.all(peers.map((p) => p.online()))).every((n) => n >= links),
    `${peers.length} boards online with ${links} WebRTC links each`,
  )
}

/** Waits until every board holds the same full state, for which `holds` (if given) is true; returns it. */
export async function converged(
  boards: { state(): Promise<TaskState[]> }[],
  what: string,
  holds: (state: TaskState[]) => boolean = () => true,
): Promise<TaskState[]> {
  let states: string[] = []
  try {
    await until(async () => {
      states = await Promise.all(boards.map(async (b) => JSON.stringify(await b.state())))
      return states.every((s) => s === states[0]) && holds(JSON.parse(states[0]!))
    }, what)
  } catch (e) {
    throw new Error(`${(e as Error).message}; last states:\n${states.join('\n')}`)
  }
  return JSON.parse(states[0]!) as TaskState[]
}
