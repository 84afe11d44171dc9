/** Starts the relay CLI (`pnpm relay`'s entry) as a child process on a free port. */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface RelayProcess {
  child: ChildProcess
  url: string
  port: number
  relayKey: string
  output: () => string
  stop(): Promise<number | null>
}

/**
 * Test relays issue no checkpoints unless the test asks (`--limit checkpointEvery=256`, later
 * arguments win): most scenarios count the events they post, and a checkpoint is one more event.
 */
export const TEST_RELAY_DEFAULTS = ['--limit', 'checkpointEvery=0']

export function spawnRelay(args: string[], env: Record<string, string> = {}): Promise<RelayProcess> {
  // node itself (not the tsx wrapper, which forks): a SIGKILL must reach the relay process.
  const argv = ['--import', 'tsx', 'relay/src/cli.ts', '--port', '0', ...TEST_RELAY_DEFAULTS, ...args]
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start:\n${out}`)), 20_000)
    child.on('exit', (code) => reject(new Error(`relay exited ${code}:\n${out}`)))
    child.stdout!.on('data', () => {
      const m = /listening on (ws:\/\/[^:]+:(\d+)) key (\S+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      resolve({
        child,
        url: m[1]!,
        port: Number(m[2]),
        relayKey: m[3]!,
        output: () => out,
        stop: () =>
          new Promise((r) => {
            if (child.exitCode !== null) return r(child.exitCode)
            child.once('exit', (code) => r(code))
            child.kill('SIGTERM')
          }),
      })
    })
  })
}
