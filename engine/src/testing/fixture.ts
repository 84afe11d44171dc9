/** One store per test for the conformance suites: opened by the test, closed (and torn down) after it. */
import { afterEach } from 'vitest'

export interface Fixture<S> {
  store: S
  /** Opens the same data again after `store.close()` (stores that persist). */
  reopen?: () => Promise<S>
  teardown?: () => Promise<void>
}

export function perTestFixture<S extends { close(): Promise<void> }>(setup: () => Promise<Fixture<S>>) {
  let fixture: Fixture<S> | undefined
  afterEach(async () => {
    await fixture?.store.close()
    await fixture?.teardown?.()
    fixture = undefined
  })
  return {
    async open(): Promise<S> {
      fixture = await setup()
      return fixture.store
    },
    /** The store opened again from what it persisted; the caller closed it first. */
    async reopen(): Promise<S> {
      if (!fixture?.reopen) throw new Error('this fixture cannot reopen its store: drop { durable: true }')
      const again = await fixture.reopen()
      fixture = { ...fixture, store: again }
      return again
    },
  }
}
