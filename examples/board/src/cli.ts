/**
 * The board on the command line: opens the board kept in --dir and reads commands from stdin,
 * one per line (--help). tests/kill.test.ts drives it as a child process.
 */
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { publicKeyToText } from '@peerchat/engine'
import { type Move, STATUSES, type Status, type Task } from './board.ts'
import { openBoardNode } from './node.ts'
import { fetchRelayKey } from './relay-info.ts'

const HELP = `usage: pnpm --filter @peerchat/example-board cli --dir DIR [--relay URL] [--key=KEY] [--channel NAME]

Opens the board kept in DIR (created on first use: identity.key, store/, outbox/), joins the
relay (default ws://127.0.0.1:8787) and the other members over WebRTC, and reads commands from
stdin, one per line. Without --key, the relay's key is read from its /.well-known/peerchat.json.
The channel (default board) must exist on the relay: PEERCHAT_CHANNELS=general,board pnpm start.

  ls                            the board
  add TITLE                     a new task, in todo
  title ID TITLE                retitle
  assign ID [NAME]              set (or clear) who does it
  move ID [STATUS] [before|after ID2]   e.g. "move 3f doing", "move 3f before 9a"
  desc ID TEXT                  append TEXT to the task's description
  show ID                       a task and its description
  rm ID                         remove a task
  json                          the board with every description, as one JSON line
  offline, online               drop the links to the relay and peers, or join again
  quit                          save and exit (as does the end of stdin)

ID is any unique prefix of a task's id. An edit answers "ok ID" once it is saved on disk: it is
sent when the relay is reachable, after a restart if need be.`

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    relay: { type: 'string', default: 'ws://127.0.0.1:8787' },
    key: { type: 'string' },
    channel: { type: 'string', default: 'board' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help || !values.dir) {
  console.log(HELP)
  process.exit(values.help ? 0 : 2)
}

const node = await openBoardNode({
  relayUrl: values.relay,
  relayKey: values.key ?? (await fetchRelayKey(values.relay)),
  dir: values.dir,
  channel: values.channel,
})
const { board } = node
const connect = () => node.connect().relay.on('state', (s) => console.log(`# relay ${s}`))
connect()
console.log(`ready ${publicKeyToText(node.identity.publicKey)}`)

/** The task whose id starts with `prefix`. */
function find(prefix = ''): string {
  const ids = board.tasks().filter((t) => t.id.startsWith(prefix))
  if (ids.length !== 1) throw new Error(`${ids.length} tasks match ${JSON.stringify(prefix)}`)
  return ids[0]!.id
}

const line = (t: Task) => `  ${t.id.slice(0, 6)}  ${t.title}${t.assignee ? `  @${t.assignee}` : ''}`

async function run(input: string): Promise<string> {
  const [command = '', ...words] = input.trim().split(/\s+/)
  /** The line after its first `n` words: titles and texts keep their spaces. */
  const rest = (n: number) => input.trim().replace(new RegExp(`^(\\S+\\s*){${n}}`), '')
  switch (command) {
    case 'ls': {
      const columns = board.columns()
      return STATUSES.map((s) => [s.toUpperCase(), ...columns[s].map(line)].join('\n')).join('\n')
    }
    case 'add':
      if (!rest(1)) throw new Error('add needs a title')
      return `ok ${await board.add(rest(1))}`
    case 'title': {
      const id = find(words[0])
      await board.update(id, { title: rest(2) })
      return `ok ${id}`
    }
    case 'assign': {
      const id = find(words[0])
      await board.update(id, { assignee: words[1] ?? '' })
      return `ok ${id}`
    }
    case 'move': {
      const id = find(words[0])
      const to: Move = {}
      let i = 1
      if (STATUSES.includes(words[i] as Status)) to.status = words[i++] as Status
      if (words[i] === 'before' || words[i] === 'after')
        to[words[i] as 'before' | 'after'] = find(words[i + 1])
      await board.move(id, to)
      return `ok ${id}`
    }
    case 'desc': {
      const id = find(words[0])
      const text = await board.description(id)
      text.insert(text.length, rest(2))
      await board.flush()
      return `ok ${id}`
    }
    case 'show': {
      const task = board.task(find(words[0]))!
      return `${line(task)}  [${task.status}]\n${(await board.description(task.id)).toString()}`
    }
    case 'rm': {
      const id = find(words[0])
      await board.remove(id)
      return `ok ${id}`
    }
    case 'json': {
      const tasks = []
      for (const t of board.tasks())
        tasks.push({ ...t, description: (await board.description(t.id)).toString() })
      return JSON.stringify({ tasks })
    }
    case 'offline':
      await node.disconnect()
      return 'ok offline'
    case 'online':
      connect()
      return 'ok online'
    case '':
      return ''
    default:
      return `error unknown command ${command} (--help lists them)`
  }
}

async function quit(): Promise<never> {
  await node.close()
  process.exit(0)
}
process.once('SIGINT', quit)
process.once('SIGTERM', quit)

for await (const input of createInterface({ input: process.stdin, terminal: false })) {
  if (input.trim() === 'quit') break
  try {
    const out = await run(input)
    if (out) console.log(out)
  } catch (e) {
    console.log(`error ${(e as Error).message}`)
  }
}
await quit()
