/** Deadlines for calls that have none of their own (node-redis has none for a sent command). */

/**
 * Fails every call older than `ms` (checked ms/5 apart by one timer, not a timer per call).
 * A failed call may still have run on Redis: callers treat it as "unknown".
 */
export class Deadlines {
  private readonly generations: Set<(e: Error) => void>[] = []
  private current = new Set<(e: Error) => void>()
  private readonly timer: NodeJS.Timeout

  constructor(ms: number) {
    const tick = Math.max(10, ms / 5)
    this.timer = setInterval(() => {
      this.generations.push(this.current)
      this.current = new Set()
      while (this.generations.length > Math.ceil(ms / tick))
        for (const fail of this.generations.shift()!) fail(new Error(`Redis gave no reply within ${ms} ms`))
    }, tick)
    this.timer.unref()
  }

  bound<T>(call: Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const gen = this.current
      gen.add(reject)
      call.then(
        (v) => {
          gen.delete(reject)
          resolve(v)
        },
        (e) => {
          gen.delete(reject)
          reject(e)
        },
      )
    })
  }

  stop(): void {
    clearInterval(this.timer)
  }
}
