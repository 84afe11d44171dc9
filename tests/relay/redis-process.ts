/**
 * A real `redis-server` (Debian's package; `.ci/run` installs it) on a free loopback port, for
 * the multi-node relay tests and `pnpm bench:scale`. Append-only file on, in a temporary
 * directory, so a restart keeps what was written (as an operator's Redis would).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface RedisProcess {
  readonly port: number
  readonly url: string
  readonly dir: string
  /** SIGKILL (true) or SIGTERM, and wait for the exit. */
  stop(kill?: boolean): Promise<void>
  /** Starts it again on the same port and directory (after `stop`). */
  restart(): Promise<void>
  /** Stops it and removes its directory. */
  dispose(): Promise<void>
}

/** Whether `redis-server` is installed (the tests say how to get it when it is not). */
export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
}

export const REDIS_MISSING =
  'redis-server is not installed: apt-get install -y redis-server (.ci/run does it)'

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export async function startRedis(): Promise<RedisProcess> {
  if (!redisAvailable()) throw new Error(REDIS_MISSING)
  const dir = mkdtempSync(join(tmpdir(), 'peerchat-redis-'))
  const port = await freePort()
  let child: ChildProcess | null = null
  const launch = async () => {
    const c = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--protected-mode',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    child = c
    let out = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 15_000)
      const onData = (d: Buffer) => {
        out += d
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer)
          resolve()
        }
      }
      c.stdout!.on('data', onData)
      c.stderr!.on('data', onData)
      c.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited ${code}:\n${out}`))
      })
    })
  }
  const stop = (kill = false) =>
    new Promise<void>((resolve) => {
      const c = child
      if (!c || c.exitCode !== null || c.signalCode !== null) return resolve()
      c.once('exit', () => resolve())
      c.kill(kill ? 'SIGKILL' : 'SIGTERM')
    })
  await launch()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    stop,
    restart: launch,
    async dispose() {
      await stop(true)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
