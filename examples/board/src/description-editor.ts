/**
 * A <textarea> bound to a task's description (a Y.Text) both ways: typing becomes the smallest
 * Yjs edit (the changed middle of the text), and others' edits update the textarea with the
 * caret kept where it was. Loaded with `import()` when a task is opened.
 */
import type { Description } from './board.ts'

type Observer = Parameters<Description['observe']>[0]

export function bindTextarea(textarea: HTMLTextAreaElement, text: Description): () => void {
  textarea.value = text.toString()
  const onInput = () => {
    const [before, after] = [text.toString(), textarea.value]
    let start = 0
    while (start < before.length && start < after.length && before[start] === after[start]) start++
    let end = 0
    while (
      end < before.length - start &&
      end < after.length - start &&
      before.at(-1 - end) === after.at(-1 - end)
    )
      end++
    text.doc?.transact(() => {
      text.delete(start, before.length - start - end)
      text.insert(start, after.slice(start, after.length - end))
    })
  }
  const onChange: Observer = (event, transaction) => {
    if (transaction.local) return
    // Move the caret by what others inserted or deleted before it.
    let [start, end] = [textarea.selectionStart, textarea.selectionEnd]
    let index = 0
    for (const op of event.delta) {
      if (op.retain) index += op.retain
      else if (typeof op.insert === 'string') {
        const n = op.insert.length
        if (index < start) start += n
        if (index < end) end += n
        index += n
      } else if (op.delete) {
        start -= Math.max(0, Math.min(op.delete, start - index))
        end -= Math.max(0, Math.min(op.delete, end - index))
      }
    }
    textarea.value = text.toString()
    textarea.setSelectionRange(start, end)
  }
  textarea.addEventListener('input', onInput)
  text.observe(onChange)
  return () => {
    textarea.removeEventListener('input', onInput)
    text.unobserve(onChange)
  }
}
