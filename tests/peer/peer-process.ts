/** Test-side handle on a peer process (node-peer.ts). */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { until } from './scenario.ts'

const CHILD = fileURLToPath(new URL('./node-peer.ts', import.meta.url))
const CALL_TIMEOUT_MS = 90_000

export class PeerProcess {
  private readonly child: ChildProcess
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  private nextId = 0
  private readonly ready: Promise<void>

  /** `child`: another entry speaking the same IPC protocol (default node-peer.ts). */
  constructor(
    readonly name: string,
    child: string = CHILD,
  ) {
    this.child = fork(child, [], {
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.ready = new Promise((resolve) => {
      this.child.on('message', (raw) => {
        const m = raw as { ready?: boolean; id?: number; result?: unknown; error?: string }
        if (m.ready) return resolve()
        const p = this.pending.get(m.id!)
        if (!p) return
        this.pending.delete(m.id!)
        if (m.error) p.reject(new Error(`${this.name}: ${m.error}`))
        else p.resolve(m.result)
      })
    })
    this.child.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`${this.name} exited`))
      this.pending.clear()
    })
  }

  /** Runs `op` in the child; a call unanswered after `timeoutMs` fails naming the op (a hang is a bug). */
  async call<T = unknown>(op: string, args: object = {}, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
    await this.ready
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: ${op} unanswered after ${timeoutMs / 1000} s`))
      }, timeoutMs)
      const settle =
        <A>(f: (a: A) => void) =>
        (a: A) => {
          clearTimeout(timer)
          f(a)
        }
      this.pending.set(id, { resolve: settle(resolve as (v: unknown) => void), reject: settle(reject) })
      if (!this.child.connected) return this.pending.get(id)!.reject(new Error(`${this.name} exited`))
      this.child.send({ id, op, ...args })
    })
  }

  kill(): void {
    this.child.kill('SIGKILL')
  }
}

/** Waits until every peer is linked to `links` others over WebRTC. */
export async function untilMeshed(peers: PeerProcess[], links: number): Promise<void> {
  await until(
    async () => (await Promise.all(peers.map((p) => p.call<number>('meshPeers')))).every((n) => n === links),
    'a full mesh',
  )
}

/** `author` (a blob-node.ts peer) posts a seeded blob; resolves once every other peer holds its stamp. */
export async function postBlob(
  author: PeerProcess,
  others: PeerProcess[],
  o: { channel: string; size: number; seed: number },
): Promise<{ id: string; sha256: string }> {
  const posted = await author.call<{ id: string; sha256: string }>('blobPost', o)
  for (const p of others)
    await until(
      async () => (await p.call<string[]>('ids', { channel: o.channel })).includes(posted.id),
      'the stamp',
    )
  return posted
}
