/** A board's full state, as the tests compare it. */
import type { Board, Task } from '../src/board.ts'

export type TaskState = Task & { description: string }

/** Every task, column by column in order, with its description. */
export async function stateOf(board: Board): Promise<TaskState[]> {
  const out: TaskState[] = []
  for (const t of board.tasks()) out.push({ ...t, description: (await board.description(t.id)).toString() })
  return out
}
