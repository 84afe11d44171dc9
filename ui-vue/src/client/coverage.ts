/**
 * Where each channel's events came from this session, for the trust & sync panel: counts per
 * source (the relay live, the device's store, or a peer over a link). Pure bookkeeping: the
 * client calls `note` once per event it sees for the first time.
 */
import type { CoverageSource, EventSource } from './types.ts'

const labelOf = (s: EventSource): string => (s.via === 'peer' ? `peer:${s.peer}:${s.link ?? ''}` : s.via)

export class Coverage {
  private readonly channels = new Map<string, Map<string, CoverageSource>>()

  note(channel: string, source: EventSource, n = 1): void {
    let bySource = this.channels.get(channel)
    if (!bySource) {
      bySource = new Map()
      this.channels.set(channel, bySource)
    }
    const label = labelOf(source)
    const held = bySource.get(label)
    if (held) held.events += n
    else
      bySource.set(
        label,
        source.via === 'peer'
          ? { via: 'peer', peer: source.peer, ...(source.link ? { link: source.link } : {}), events: n }
          : { via: source.via, events: n },
      )
  }

  /** The sources of a channel, most events first. */
  sources(channel: string): CoverageSource[] {
    return [...(this.channels.get(channel)?.values() ?? [])]
      .map((s) => ({ ...s }))
      .sort((a, b) => b.events - a.events)
  }
}
