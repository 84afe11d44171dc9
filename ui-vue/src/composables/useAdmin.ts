/**
 * The community's admin state for the screens (settings dialog, member menu, composer, notices):
 * the client's `admin.view()`, re-read when it or the members change, and re-read every
 * `ADMIN_TICK_MS` while a timeout or ban with an end is in force (so "timed out until" clears by
 * itself). Actions resolve with a message for the user when refused (by this device's fold, or
 * by the relay once it answers), or null once the relay stamped them.
 */
import { computed, type InjectionKey, onScopeDispose, provide, shallowRef } from 'vue'
import type { AdminView, ChatClient, Outgoing } from '../client/types.ts'
import { injectStrict } from './inject.ts'

/** How often the view is re-read while a timeout or a ban with an end is in force (default 5 s). */
export const ADMIN_TICK_MS = 5_000

/** A refusal as the user reads it: the relay's `forbidden: <fold reason>` made plain. */
export function refusalMessage(e: unknown): string {
  const message = (e as Error)?.message ?? String(e)
  const m = /relay refused the event: ([a-z_]+): (.*)$/s.exec(message)
  if (!m) return message
  const [, code, detail] = m
  if (code === 'forbidden') return `The relay refused it: ${detail}`
  if (code === 'redeem_first')
    return 'The relay is still admitting you by your invite: try again in a moment.'
  return `The relay refused it (${code}): ${detail}`
}

function createAdmin(client: ChatClient) {
  const admin = client.admin
  const view = shallowRef<AdminView>(admin.view())
  const tick = shallowRef(0)
  let timer: ReturnType<typeof setInterval> | undefined
  const reread = (): void => {
    view.value = admin.view()
    const timed = view.value.members.some((m) => m.timeoutUntil !== undefined || m.ban?.until !== undefined)
    if (timed && !timer)
      timer = setInterval(() => {
        tick.value++
        reread()
      }, ADMIN_TICK_MS)
    else if (!timed && timer) {
      clearInterval(timer)
      timer = undefined
    }
  }
  const offs = [client.on('admin', reread), client.on('members', reread), client.on('channels', reread)]
  onScopeDispose(() => {
    for (const off of offs) off()
    clearInterval(timer)
  })

  /** Why I may not post in `channel` now, or null; re-evaluated as the view changes. */
  const whyNotPost = (channel: string): string | null => {
    void view.value
    void tick.value
    return client.whyNotPost ? client.whyNotPost(channel) : admin.whyNotPost(channel)
  }
  const blocked = computed(() => view.value.blocked)

  /** Runs an action: null once stamped, else the reason it was refused. */
  async function run(action: () => Promise<Outgoing>): Promise<string | null> {
    try {
      const outgoing = await action()
      await outgoing.stamped
      return null
    } catch (e) {
      return refusalMessage(e)
    }
  }

  return { admin, view, blocked, whyNotPost, run }
}

export type AdminState = ReturnType<typeof createAdmin>
const key: InjectionKey<AdminState> = Symbol('admin')

export function provideAdmin(client: ChatClient): AdminState {
  const state = createAdmin(client)
  provide(key, state)
  return state
}

export const useAdmin = (): AdminState => injectStrict(key, 'useAdmin')
