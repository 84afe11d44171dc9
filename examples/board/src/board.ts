/**
 * The board's model, the same in Node and in the browser: tasks folded from one channel of a
 * Replica with the engine's projection kit (`@peerchat/engine/kit`), and a description per task
 * that everyone co-edits, as a Yjs document.
 *
 * A task is five last-writer-wins fields of one `LwwMap`: `<id>/title`, `<id>/status`,
 * `<id>/assignee`, `<id>/position` and `<id>/removed`. Fields are independent, so a retitle and
 * a concurrent move of the same task both stay. A column lists its tasks by fractional position
 * (`between`): a move writes the task's status and position in one event and renumbers
 * nothing. Removing sets `removed`, which no edit clears: a removal is final.
 *
 * Descriptions are Yjs documents named `task-<id>` on the same channel, routed by a
 * `DocRegistry`. Yjs is loaded with `import()` when the first description is opened, so a page
 * that only shows the board never downloads it.
 */
import type { Replica } from '@peerchat/engine'
import type { DocHandle, DocOptions, DocRegistry, UpdateGuard } from '@peerchat/engine/docs'
import { between, isValidPosition, LwwMap, stringCodec, type ValueCodec } from '@peerchat/engine/kit'

export const STATUSES = ['todo', 'doing', 'done'] as const
export type Status = (typeof STATUSES)[number]

export interface Task {
  id: string
  title: string
  status: Status
  /** Who does it; '' for nobody. */
  assignee: string
  /** Fractional position: a column lists its tasks by (position, id). */
  position: string
}

export type Columns = Record<Status, Task[]>

/**
 * Where `move` puts a task: into `status` (default: the column of `before`/`after`, else its
 * own), right before `before`, right after `after`, between both, or (neither) at the end.
 */
export interface Move {
  status?: Status
  before?: string
  after?: string
}

/** A task's description: a Yjs shared text (`Y.Text`, named without importing Yjs here). */
export type Description = ReturnType<DocHandle['doc']['getText']>

export interface BoardOptions {
  channel: string
  /**
   * Options of the description documents, asked for once, when the first one opens: Node passes
   * an off-thread update guard (`createWorkerGuard()`), which the board closes with itself.
   */
  descriptions?: () => DocOptions | Promise<DocOptions>
}

const FIELDS = ['title', 'status', 'assignee', 'position', 'removed'] as const
type Field = (typeof FIELDS)[number]
type Fields = Partial<Record<Field, string>>

const FIELD_KEY = new RegExp(`^[0-9a-z]{1,64}/(${FIELDS.join('|')})$`)
const key = (id: string, field: Field) => `${id}/${field}`
const idOf = (k: string) => k.slice(0, k.indexOf('/'))
const isStatus = (s: string): s is Status => (STATUSES as readonly string[]).includes(s)
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Every value is a string. What other authors wrote is checked: an entry with a key, status or
 * position that is not one of ours is ignored, by every replica alike.
 */
const fieldCodec: ValueCodec<string> = {
  encode: (value) => stringCodec.encode(value),
  decode(bytes, k) {
    const value = stringCodec.decode(bytes, k)
    const field = FIELD_KEY.exec(k)?.[1]
    if (!field) throw new RangeError(`not a task field: ${k}`)
    if (field === 'status' && !isStatus(value)) throw new RangeError(`unknown status ${value}`)
    if (field === 'position' && !isValidPosition(value)) throw new RangeError('invalid position')
    return value
  },
}

/** 16 random base-32 digits (80 bits), lowercase: `task-<id>` must be a valid document name. */
const newId = (): string =>
  Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => (b & 31).toString(32)).join('')

export class Board {
  private registry: Promise<DocRegistry> | undefined
  private guard: UpdateGuard | undefined

  private constructor(
    private readonly replica: Replica,
    private readonly map: LwwMap<string>,
    private readonly options: BoardOptions,
  ) {}

  static async open(replica: Replica, options: BoardOptions): Promise<Board> {
    // The kit's default clock, 'author': every write carries a hybrid logical clock, and of two
    // edits to one field the one made later wins, even if it reaches the relay first. With
    // 'relay' (stamp order), an edit made offline this morning and sent tonight would overwrite
    // whatever others wrote to that field during the day.
    const map = await LwwMap.open(replica, options.channel, { name: 'tasks', codec: fieldCodec })
    return new Board(replica, map, options)
  }

  get channel(): string {
    return this.options.channel
  }

  // ---- reading ---------------------------------------------------------------------------

  task(id: string): Task | undefined {
    const get = (field: Field) => this.map.get(key(id, field))
    const [title, status, position] = [get('title'), get('status'), get('position')]
    // Events arrive in any order: a move may come before the task's first write. Wait for it.
    if (title === undefined || status === undefined || position === undefined) return undefined
    if (get('removed') !== undefined) return undefined
    return { id, title, status: status as Status, assignee: get('assignee') ?? '', position }
  }

  /** The three columns, each in order. */
  columns(): Columns {
    const columns: Columns = { todo: [], doing: [], done: [] }
    for (const k of this.map.keys()) {
      const task = k.endsWith('/title') ? this.task(idOf(k)) : undefined
      if (task) columns[task.status].push(task)
    }
    for (const column of Object.values(columns))
      column.sort((a, b) => compare(a.position, b.position) || compare(a.id, b.id))
    return columns
  }

  /** Every task, column by column. */
  tasks(): Task[] {
    const columns = this.columns()
    return STATUSES.flatMap((s) => columns[s])
  }

  /** True while a local edit of the task waits for the relay's stamp (offline, say). */
  isPending(id: string): boolean {
    return FIELDS.some((f) => this.map.meta(key(id, f))?.pending === true)
  }

  /** Called with the ids of the tasks that changed (added, edited, moved, removed); returns the unsubscribe. */
  on(_event: 'change', listener: (ids: string[]) => void): () => void {
    return this.map.on('change', (c) => listener([...new Set(c.keys.map(idOf))]))
  }

  // ---- writing: each shows at once, is saved (outbox) and sent when the relay is reachable ---

  /** Adds a task at the end of its column; resolves with its id. */
  async add(title: string, o: { status?: Status; assignee?: string } = {}): Promise<string> {
    const id = newId()
    const status = o.status ?? 'todo'
    await this.write(id, { title, status, assignee: o.assignee ?? '', position: this.place(status, {}) })
    return id
  }

  /** Changes the fields given, and only those. */
  async update(id: string, edit: { title?: string; assignee?: string }): Promise<void> {
    this.need(id)
    await this.write(id, { title: edit.title, assignee: edit.assignee })
  }

  /** Moves a task (see `Move`): its status and position, in one write. */
  async move(id: string, to: Move): Promise<void> {
    const task = this.need(id)
    const anchor = to.before ?? to.after
    const status = to.status ?? (anchor === undefined ? task.status : this.need(anchor).status)
    await this.write(id, { status, position: this.place(status, to, id) })
  }

  /** Removes a task, for good: a concurrent edit does not bring it back. */
  async remove(id: string): Promise<void> {
    this.need(id)
    await this.write(id, { removed: 'yes' })
  }

  // ---- descriptions ----------------------------------------------------------------------

  /**
   * The description of task `id`, a Y.Text: edit it like any, each change is signed and sent
   * about 200 ms later. Loads Yjs on first use. At most 16 documents stay open (DocRegistry):
   * a text kept longer than its task is shown may stop publishing, so ask again when reopening.
   */
  async description(id: string): Promise<Description> {
    this.registry ??= this.openRegistry()
    const handle = await (await this.registry).get(`task-${id}`)
    return handle.doc.getText('description')
  }

  /** Sends the descriptions' edits of the last 200 ms now (before a shutdown, say). */
  async flush(): Promise<void> {
    const registry = await this.registry
    await Promise.all(registry?.opened().map((name) => registry.peek(name)?.flush()) ?? [])
  }

  /** Stops following the channel (descriptions flushed first); the replica stays open. */
  async close(): Promise<void> {
    this.map.close()
    await (await this.registry)?.close()
    this.guard?.close()
  }

  // ---- internals -------------------------------------------------------------------------

  private async openRegistry(): Promise<DocRegistry> {
    const [{ DocRegistry }, doc] = await Promise.all([
      import('@peerchat/engine/docs'),
      this.options.descriptions?.() ?? {},
    ])
    this.guard = doc.guard
    return DocRegistry.open(this.replica, this.channel, { doc })
  }

  private need(id: string): Task {
    const task = this.task(id)
    if (!task) throw new RangeError(`no task ${id}`)
    return task
  }

  private async write(id: string, fields: Fields): Promise<void> {
    const ops = FIELDS.flatMap((f) => {
      const value = fields[f]
      return value === undefined ? [] : [{ key: key(id, f), value }]
    })
    if (ops.length > 0) await this.map.write(ops)
  }

  /** A position in `status`'s column after `at.after` and/or before `at.before`, else at its end. */
  private place(status: Status, at: Move, moving?: string): string {
    const column = this.columns()
      [status].filter((t) => t.id !== moving)
      .map((t) => t.position)
    const positionOf = (id: string) => {
      const task = this.task(id)
      if (task?.status !== status || id === moving) throw new RangeError(`cannot place next to ${id}`)
      return task.position
    }
    const lo =
      at.after !== undefined ? positionOf(at.after) : at.before === undefined ? column.at(-1) : undefined
    const hi = at.before !== undefined ? positionOf(at.before) : undefined
    // The open side takes the nearest neighbour; `between` throws when `after` is not above `before`.
    return between(
      lo ?? (hi === undefined ? undefined : column.filter((p) => p < hi).at(-1)),
      hi ?? (lo === undefined ? undefined : column.find((p) => p > lo)),
    )
  }
}

export const openBoard = (replica: Replica, options: BoardOptions): Promise<Board> =>
  Board.open(replica, options)
