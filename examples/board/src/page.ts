/**
 * The board in a browser: a Replica on IndexedDB joined to the relay and the WebRTC mesh, and
 * three columns drawn with plain DOM. `?relay=ws://127.0.0.1:8787&key=<relay key>` says where
 * the relay is (without `key`, its well-known JSON tells). WebRTC and Yjs load lazily: the
 * mesh once the relay login is done (connectReplica), Yjs when a task is opened.
 */
import { Identity, publicKeyFromText, Replica } from '@peerchat/engine'
import { openIndexedDbOutbox, openIndexedDbStore } from '@peerchat/store-indexeddb'
import { connectReplica } from '@peerchat/transports/connect'
import { type Move, openBoard, STATUSES, type Status, type Task } from './board.ts'
import { fetchRelayKey } from './relay-info.ts'

const params = new URLSearchParams(location.search)
const relayUrl = params.get('relay') ?? 'ws://127.0.0.1:8787'
const relayKey = publicKeyFromText(params.get('key') ?? (await fetchRelayKey(relayUrl)))

// This browser's member key. A demo keeps it in localStorage; the chat app lets people export it.
const saved = localStorage.getItem('peerchat-board-key')
const identity = saved ? await Identity.import(saved) : await Identity.generate()
localStorage.setItem('peerchat-board-key', identity.export())

// The channel's log and the unsent writes live in IndexedDB: a reload shows the board at once,
// and what was written offline is sent when the relay is back.
const [store, outbox] = await Promise.all([
  openIndexedDbStore({ relayKey }),
  openIndexedDbOutbox({ relayKey, author: identity.publicKey }),
])
const replica = await Replica.open({ store, outbox, relayKeys: [relayKey], signer: identity })
const board = await openBoard(replica, {
  channel: params.get('channel') ?? 'board',
  // Check other people's Yjs updates in a Web Worker (loaded with the first description).
  descriptions: async () => ({ guard: (await import('@peerchat/engine/docs')).createWebWorkerGuard() }),
})
const connection = connectReplica(replica, { relayUrl, relayKey, identity })

// ---- the page ------------------------------------------------------------------------------

const $ = <T extends Element>(selector: string) => document.querySelector<T>(selector)!
const LABELS: Record<Status, string> = { todo: 'To do', doing: 'Doing', done: 'Done' }

/** `<tag>` with properties and children. */
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const element = Object.assign(document.createElement(tag), props)
  element.append(...children)
  return element
}

/** Runs a board write; a refusal (a task removed meanwhile, say) is only logged. */
const run = (write: Promise<unknown>) => void write.catch((e) => console.warn(e))

function button(text: string, label: string, onclick: () => void, disabled = false): HTMLButtonElement {
  return h('button', { type: 'button', textContent: text, ariaLabel: label, title: label, onclick, disabled })
}

function card(task: Task, column: Task[], i: number): HTMLLIElement {
  const s = STATUSES.indexOf(task.status)
  const [left, right] = [STATUSES[s - 1], STATUSES[s + 1]]
  const move = (text: string, where: string, to: Move, disabled: boolean) =>
    button(text, `Move "${task.title}" ${where}`, () => run(board.move(task.id, to)), disabled)
  const li = h(
    'li',
    { className: board.isPending(task.id) ? 'card pending' : 'card', draggable: true },
    h('button', { className: 'title', textContent: task.title, onclick: () => void openTask(task.id) }),
    ...(task.assignee ? [h('span', { className: 'assignee', textContent: `@${task.assignee}` })] : []),
    h(
      'span',
      { className: 'moves' },
      move('←', `to ${left}`, { status: left }, !left),
      move('↑', 'up', { before: column[i - 1]?.id }, i === 0),
      move('↓', 'down', { after: column[i + 1]?.id }, i === column.length - 1),
      move('→', `to ${right}`, { status: right }, !right),
      button('×', `Remove "${task.title}"`, () => run(board.remove(task.id))),
    ),
  )
  li.dataset.id = task.id
  li.addEventListener('dragstart', (e) => e.dataTransfer?.setData('text/plain', task.id))
  return li
}

function render(): void {
  const columns = board.columns()
  $('#columns').replaceChildren(
    ...STATUSES.map((status) => {
      const list = columns[status]
      const section = h(
        'section',
        { className: 'column', ariaLabel: LABELS[status] },
        h('h2', { textContent: `${LABELS[status]} · ${list.length}` }),
        h('ol', {}, ...list.map((task, i) => card(task, list, i))),
      )
      // Drop a card on a card: before it; anywhere else in the column: at its end.
      section.addEventListener('dragover', (e) => e.preventDefault())
      section.addEventListener('drop', (e) => {
        e.preventDefault()
        const id = e.dataTransfer?.getData('text/plain')
        const before = (e.target as Element).closest<HTMLElement>('.card')?.dataset.id
        if (id && id !== before) run(board.move(id, { status, before }))
      })
      return section
    }),
  )
  showTask()
}

$<HTMLFormElement>('#add').addEventListener('submit', (e) => {
  e.preventDefault()
  const [title, assignee] = [$<HTMLInputElement>('#new-title'), $<HTMLInputElement>('#new-assignee')]
  run(board.add(title.value.trim(), { assignee: assignee.value.trim() }))
  title.value = ''
})

// ---- one task: title, assignee, description ----------------------------------------------

const dialog = $<HTMLDialogElement>('#task')
const fields = { title: $<HTMLInputElement>('#task-title'), assignee: $<HTMLInputElement>('#task-assignee') }
const textarea = $<HTMLTextAreaElement>('#task-description')
let openId: string | undefined
let unbind = (): void => {}

/** Shows the open task's fields, unless someone is typing in them. */
function showTask(): void {
  const task = openId === undefined ? undefined : board.task(openId)
  if (!task) {
    if (dialog.open) dialog.close() // removed meanwhile
    return
  }
  for (const name of ['title', 'assignee'] as const)
    if (document.activeElement !== fields[name]) fields[name].value = task[name]
}

async function openTask(id: string): Promise<void> {
  openId = id
  showTask()
  dialog.showModal()
  textarea.disabled = true
  // Yjs and the textarea binding load now, with the first description opened.
  const [{ bindTextarea }, text] = await Promise.all([
    import('./description-editor.ts'),
    board.description(id),
  ])
  if (openId !== id) return
  unbind = bindTextarea(textarea, text)
  textarea.disabled = false
}

for (const name of ['title', 'assignee'] as const)
  fields[name].addEventListener('change', () => {
    if (openId !== undefined) run(board.update(openId, { [name]: fields[name].value.trim() }))
  })
dialog.addEventListener('close', () => {
  unbind()
  openId = undefined
})

// ---- the connection ------------------------------------------------------------------------

const status = $('#status')
let peers = 0
function showStatus(): void {
  const online = connection.relay.state === 'online'
  status.className = online ? 'online' : ''
  status.textContent = online
    ? `online · ${peers} peer${peers === 1 ? '' : 's'} over WebRTC`
    : connection.relay.state
}
connection.relay.on('state', showStatus)
void connection.meshReady.then((mesh) => {
  const count = () => {
    peers = mesh?.peers().size ?? 0
    showStatus()
  }
  mesh?.on('peer-joined', count)
  mesh?.on('peer-left', count)
})
showStatus()

// ---- go --------------------------------------------------------------------------------------

// Redraw once per frame, however many changes came in it.
let drawing = false
board.on('change', () => {
  if (drawing) return
  drawing = true
  requestAnimationFrame(() => {
    drawing = false
    render()
  })
})
render()
