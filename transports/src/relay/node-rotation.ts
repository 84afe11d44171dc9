/**
 * The order a relay client tries the nodes of one community (several relays with one relay key
 * and shared state, or one address behind a load balancer): it starts at a random node, so that
 * clients spread over them, and each attempt goes to the node that failed least recently, nodes
 * never failed first and ties in ring order from the current node. So after a failure the client
 * moves on to the next node, and a node that failed recently is tried last. A login on a node
 * clears its record. The delays between attempts are the client's backoff; this only orders.
 */
export class NodeRotation {
  /** The nodes, each once, in the order given. */
  readonly urls: readonly string[]
  private current: number
  /** Failure order of each node (index) since its last login: the larger, the more recent. */
  private readonly failedAt = new Map<number, number>()
  private failures = 0

  constructor(urls: readonly string[], random: () => number = Math.random) {
    this.urls = [...new Set(urls)]
    if (this.urls.length === 0) throw new RangeError('a relay client needs at least one relay URL')
    this.current = Math.min(this.urls.length - 1, Math.floor(random() * this.urls.length))
  }

  /** The node of the latest attempt (before the first, the random start). */
  get url(): string {
    return this.urls[this.current]!
  }

  /** The node to try now, which becomes the current one. */
  next(): string {
    let best = this.current
    let bestAt = this.failedAt.get(best) ?? -1
    for (let step = 1; step < this.urls.length; step++) {
      const i = (this.current + step) % this.urls.length
      const at = this.failedAt.get(i) ?? -1
      if (at < bestAt) {
        best = i
        bestAt = at
      }
    }
    this.current = best
    return this.url
  }

  /** The connection to `url` could not be made, or ended: it is tried after every other. */
  failed(url: string): void {
    const i = this.urls.indexOf(url)
    if (i >= 0) this.failedAt.set(i, ++this.failures)
  }

  /** A login on `url` succeeded: its failures are forgotten. */
  succeeded(url: string): void {
    this.failedAt.delete(this.urls.indexOf(url))
  }
}
