/**
 * The composer's state: a draft per channel, the message being replied to or edited, and
 * what Enter, Up and Escape do. Typing hints go to the client (awareness), throttled.
 */
import { utf8 } from '@peerchat/engine'
import {
  computed,
  type InjectionKey,
  onScopeDispose,
  provide,
  type Ref,
  reactive,
  shallowRef,
  watch,
} from 'vue'
import { ChatLimits } from '../client/bodies.ts'
import type { ChatMessage } from '../client/channel-view.ts'
import type { ChatClient } from '../client/types.ts'
import { injectStrict } from './inject.ts'
import type { MessagesState } from './useMessages.ts'

/** The typing hint is dropped after this long without a keystroke (default 4 s). */
export const TYPING_IDLE_MS = 4000

function createComposer(client: ChatClient, channel: Ref<string>, messages: MessagesState) {
  const drafts = reactive(new Map<string, string>())
  const replyTo = shallowRef<ChatMessage | null>(null)
  const editing = shallowRef<ChatMessage | null>(null)
  const error = shallowRef<string | null>(null)
  let typingTimer: ReturnType<typeof setTimeout> | undefined

  const text = computed({
    get: () => drafts.get(channel.value) ?? '',
    set: (value: string) => {
      drafts.set(channel.value, value)
      error.value = null
      noteTyping(value)
    },
  })
  const bytes = computed(() => utf8(text.value).length)
  const tooLong = computed(() => bytes.value > ChatLimits.text)

  function noteTyping(value: string): void {
    clearTimeout(typingTimer)
    if (value.trim() === '' || editing.value) {
      client.setTyping(null)
      return
    }
    client.setTyping(channel.value)
    typingTimer = setTimeout(() => client.setTyping(null), TYPING_IDLE_MS)
  }

  function cancel(): void {
    if (editing.value) text.value = ''
    replyTo.value = null
    editing.value = null
    error.value = null
  }

  // Reply and edit targets belong to one channel.
  watch(channel, () => {
    replyTo.value = null
    editing.value = null
    client.setTyping(null)
  })
  onScopeDispose(() => {
    clearTimeout(typingTimer)
    client.setTyping(null)
  })

  async function submit(): Promise<void> {
    const body = text.value.trim()
    if (body === '' || tooLong.value) return
    const name = channel.value
    const target = editing.value
    const reply = replyTo.value
    drafts.set(name, '')
    replyTo.value = null
    editing.value = null
    client.setTyping(null)
    try {
      if (target?.id) {
        if (body !== target.text) await client.edit(name, target.id, body)
      } else {
        await client.send(name, body, reply?.id ?? undefined)
      }
    } catch (e) {
      // Put the text back so nothing typed is lost.
      drafts.set(name, body)
      error.value = (e as Error).message
    }
  }

  /** Up in an empty composer: edit my last message. Returns false when there is none. */
  function editLast(): boolean {
    const last = messages.lastOwn()
    if (!last) return false
    startEdit(last)
    return true
  }

  function startEdit(message: ChatMessage): void {
    replyTo.value = null
    editing.value = message
    drafts.set(channel.value, message.text)
  }

  function startReply(message: ChatMessage): void {
    editing.value = null
    replyTo.value = message
  }

  return { text, bytes, tooLong, replyTo, editing, error, submit, cancel, editLast, startEdit, startReply }
}

export type ComposerState = ReturnType<typeof createComposer>
const key: InjectionKey<ComposerState> = Symbol('composer')

export function provideComposer(
  client: ChatClient,
  channel: Ref<string>,
  messages: MessagesState,
): ComposerState {
  const state = createComposer(client, channel, messages)
  provide(key, state)
  return state
}

export const useComposer = (): ComposerState => injectStrict(key, 'useComposer')
