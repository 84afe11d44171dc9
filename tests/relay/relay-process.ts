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

/**
 * Starts `node argv` in the repository, capturing stdout and stderr, and resolves with what
 * `ready` finds in the output once it finds it; rejects (with the output) if the process exits
 * first or after `timeoutMs`. `stop` sends SIGTERM and waits for the exit.
 */
export function startNode<T>(
  argv: string[],
  env: Record<string, string>,
  o: { what: string; timeoutMs: number; ready: (output: string) => T | undefined },
): Promise<{ child: ChildProcess; value: T; output: () => string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const stop = () =>
    new Promise<number | null>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r(child.exitCode)
      child.once('exit', (code) => r(code))
      child.kill('SIGTERM')
    })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${o.what} did not start:\n${out}`)), o.timeoutMs)
    child.on('exit', (code) => reject(new Error(`${o.what} exited ${code}:\n${out}`)))
    child.stdout!.on('data', () => {
      const value = o.ready(out)
      if (value === undefined) return
      clearTimeout(timer)
      resolve({ child, value, output: () => out, stop })
    })
  })
}

export async function spawnRelay(args: string[], env: Record<string, string> = {}): Promise<RelayProcess> {
  // node itself (not the tsx wrapper, which forks): a SIGKILL must reach the relay process.
  const argv = ['--import', 'tsx', 'relay/src/cli.ts', '--port', '0', ...TEST_RELAY_DEFAULTS, ...args]
  const {
    child,
    value: m,
    output,
    stop,
  } = await startNode(argv, env, {
    what: 'relay',
    timeoutMs: 20_000,
    ready: (out) => /listening on (ws:\/\/[^:]+:(\d+)) key (\S+)/.exec(out) ?? undefined,
  })
  return { child, url: m[1]!, port: Number(m[2]), relayKey: m[3]!, output, stop }
}
