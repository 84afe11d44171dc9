/** The board CLI (src/cli.ts) as a child process: commands on its stdin, one answer line each. */
import { type ChildProcess, spawn } from 'node:child_process'
import { ROOT } from '../../../tests/relay/relay-process.ts'

export interface CliProcess {
  child: ChildProcess
  /** Sends a command (ls and show excepted: their answers take several lines); resolves with its answer. */
  call(command: string): Promise<string>
  /** Everything it printed. */
  output(): string
  /** Resolves once it exited. */
  exited: Promise<void>
}

/** Starts `node --import tsx cli.ts ...args` (node itself, so a SIGKILL reaches it); resolves once it printed `ready`. */
export async function spawnCli(args: string[]): Promise<CliProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/board/src/cli.ts', ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  child.stdin!.on('error', () => {}) // writes to a killed child
  let out = ''
  let partial = ''
  const waiting: ((answer: string) => void)[] = []
  let ready: () => void
  const isReady = new Promise<void>((r) => {
    ready = r
  })
  child.stderr!.on('data', (d) => (out += d))
  child.stdout!.on('data', (d: Buffer) => {
    out += d
    const lines = (partial + d).split('\n')
    partial = lines.pop()!
    for (const line of lines) {
      if (line.startsWith('ready ')) ready()
      else if (!line.startsWith('#')) waiting.shift()?.(line)
    }
  })
  // 'close', not 'exit': its last lines are read by then.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  await Promise.race([
    isReady,
    exited.then(() => {
      throw new Error(`the board CLI exited:\n${out}`)
    }),
  ])
  return {
    child,
    call(command) {
      return new Promise((resolve) => {
        waiting.push(resolve)
        child.stdin!.write(`${command}\n`)
      })
    },
    output: () => out,
    exited,
  }
}
