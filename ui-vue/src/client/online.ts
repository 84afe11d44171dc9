/**
 * Who is online, for the member list of a large community. The relay pushes each channel's head
 * (its first `presenceHead` members, 100 by default) and a count (docs/protocol/relay.md §5):
 * below the head every one online is listed, as before; past it the list says "N online" and
 * loads the rest a page at a time ("Show more"), from the joined channel with the most members.
 */
import type { RelayClient } from '@peerchat/transports/relay'

/** Members asked for per "Show more". */
export const MEMBER_PAGE = 100

type Relay = Pick<RelayClient, 'memberCount' | 'members' | 'queryMembers'>

export class OnlineRoster {
  /** Where the pages reached: the channel paged, the cursor of its next page, and whether that was the last. */
  private paging: { channel: string; next: Uint8Array | null; done: boolean } | undefined
  private loading: Promise<boolean> | undefined

  constructor(
    private readonly relay: () => Relay | undefined,
    private readonly channels: () => readonly string[],
  ) {}

  /** The joined channel with the most sessions online, and that count. */
  private largest(): { channel: string; count: number } | undefined {
    const relay = this.relay()
    let best: { channel: string; count: number } | undefined
    for (const channel of this.channels()) {
      const count = relay?.memberCount(channel)
      if (count !== undefined && (!best || count > best.count)) best = { channel, count }
    }
    return best
  }

  /** Sessions online as the relay counts them, when the list holds fewer; undefined when it holds all. */
  count(): number | undefined {
    const best = this.largest()
    if (!best) return undefined
    return (this.relay()?.members(best.channel).size ?? 0) < best.count ? best.count : undefined
  }

  /** Whether "Show more" has anything left to load. */
  more(): boolean {
    return this.count() !== undefined && !this.paging?.done
  }

  /** Loads the next page into the relay client's members (its presence event follows); true while more remain. */
  loadMore(limit = MEMBER_PAGE): Promise<boolean> {
    this.loading ??= this.page(limit).finally(() => {
      this.loading = undefined
    })
    return this.loading
  }

  /** Starts the pages over (a new login: the relay client holds only the head again). */
  reset(): void {
    this.paging = undefined
  }

  private async page(limit: number): Promise<boolean> {
    const relay = this.relay()
    const best = this.largest()
    if (!relay || !best) return false
    if (this.paging?.channel !== best.channel)
      this.paging = { channel: best.channel, next: null, done: false }
    const paging = this.paging
    if (paging.done) return false
    const page = await relay.queryMembers(best.channel, paging.next, limit)
    paging.next = page.next
    paging.done = page.next === null
    return !paging.done
  }
}
