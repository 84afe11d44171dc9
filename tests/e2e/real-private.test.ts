/**
 * Encrypted conversations (issue #16) in real Chromium on the relay CLI, the WebRTC mesh and a
 * virtual client process: Ann and Bob talk in a direct message (a reply, a reaction, an edit,
 * an image); Ann starts a private channel with Bob and Cara and removes Cara, whose page then
 * says she left while Ann and Bob go on. Canaries: shown, decrypted, on every member's page; in
 * no WebSocket frame of any page, not in the IndexedDB of Dave (in the community, in neither
 * conversation), not in the virtual client's files nor in a heap snapshot of its process —
 * which does hold the groups' channels, as ciphertext.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnVc, type VcProcess } from '../vc/vc-process.ts'
import { noisePng } from './png.ts'
import { joinAs, messageWith, type RealStack, SHOTS, shownDigest, startRealStack } from './real-harness.ts'

const SEEN = { timeout: 45_000, interval: 200 }
const DM_CANARY = 'canary-dm-7f3e91'
const ROOM_CANARY = 'canary-room-c0ffee'
const AFTER_CANARY = 'canary-after-removal-5a5a'

/** Keeps every WebSocket frame the page sends and receives (window.__frames). */
const RECORD_FRAMES = `(() => {
  const frames = []
  Object.defineProperty(window, '__frames', { value: frames })
  const Native = window.WebSocket
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args)
      this.addEventListener('message', (e) => frames.push(e.data))
    }
    send(data) {
      frames.push(data)
      super.send(data)
    }
  }
})()`

let stack: RealStack | undefined
let vc: VcProcess | undefined
const vcDir = mkdtempSync(join(tmpdir(), 'peerchat-private-vc-'))
const snapshots = join(vcDir, 'snapshots')

beforeAll(async () => {
  mkdirSync(snapshots, { recursive: true })
  stack = await startRealStack()
  vc = await spawnVc(
    ['--relay', stack.relay.process.url, '--name', 'vc1', '--data-dir', join(vcDir, 'vc1')],
    {},
    [
      `--heapsnapshot-signal=SIGUSR2`,
      `--diagnostic-dir=${snapshots}`,
      '--import',
      'tsx',
      'virtual-client/src/cli.ts',
    ],
  )
}, 180_000)
afterAll(async () => {
  await vc?.stop()
  await stack?.stop()
  rmSync(vcDir, { recursive: true, force: true })
})

const composerOf = (page: Page) => page.locator('#composer-input')
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function send(page: Page, text: string): Promise<void> {
  await composerOf(page).fill(text)
  await composerOf(page).press('Enter')
  await expect.poll(() => messageWith(page, text).count(), SEEN).toBe(1)
}

/** Starts a conversation from the sidebar with `people` (a private channel when `title`). */
async function startConversation(page: Page, people: string[], title = ''): Promise<void> {
  await page.getByRole('button', { name: 'New direct message or private channel' }).click()
  const form = page.getByRole('form', { name: 'New encrypted conversation' })
  for (const name of people) await form.locator(`input[name="with-${name}"]`).check()
  await form.locator('input[name="conversation-title"]').fill(title)
  // Their key packages reach this page over the relay a moment after they join: try again until then.
  const started = Date.now()
  await expect
    .poll(async () => {
      if ((await form.count()) === 0) return 'started'
      const error = (await form.locator('.error').textContent()) ?? ''
      if (!(await form.getByRole('button', { name: 'Starting…' }).count()))
        await form.getByRole('button', { name: 'Start' }).click()
      return error
    }, SEEN)
    .toBe('started')
  const waited = Date.now() - started
  if (waited > 5_000) console.log(`real-private: starting a conversation waited ${waited} ms`)
}

/** Opens the conversation listed as `label` in the sidebar. */
async function open(page: Page, label: RegExp): Promise<void> {
  const entry = page
    .getByRole('list', { name: 'Direct messages and private channels' })
    .getByRole('button', { name: label })
  await entry.waitFor({ timeout: SEEN.timeout }).catch(async (e: Error) => {
    const listed = await page.locator('.channels').textContent()
    throw new Error(`${e.message}\nthe sidebar shows: ${listed}`)
  })
  await entry.click()
}

/** Whether any WebSocket frame of the page holds `needle` (UTF-8). */
function framesHold(page: Page, needle: string): Promise<boolean> {
  return page.evaluate(async (needle) => {
    const want = new TextEncoder().encode(needle)
    const frames = (window as unknown as { __frames: unknown[] }).__frames
    for (const f of frames) {
      const bytes =
        typeof f === 'string'
          ? new TextEncoder().encode(f)
          : new Uint8Array(f instanceof Blob ? await f.arrayBuffer() : (f as ArrayBuffer))
      outer: for (let i = 0; i + want.length <= bytes.length; i++) {
        for (let j = 0; j < want.length; j++) if (bytes[i + j] !== want[j]) continue outer
        return true
      }
    }
    return false
  }, needle)
}

/** Whether any value in any IndexedDB database of the page holds `needle` (as UTF-8 bytes or text). */
function indexedDbHolds(page: Page, needle: string): Promise<{ holds: boolean; values: number }> {
  return page.evaluate(async (needle) => {
    const want = new TextEncoder().encode(needle)
    let values = 0
    const has = (bytes: Uint8Array): boolean => {
      outer: for (let i = 0; i + want.length <= bytes.length; i++) {
        for (let j = 0; j < want.length; j++) if (bytes[i + j] !== want[j]) continue outer
        return true
      }
      return false
    }
    const walk = (v: unknown, depth = 0): boolean => {
      if (depth > 8 || v === null || v === undefined) return false
      if (typeof v === 'string') return v.includes(needle)
      if (v instanceof Uint8Array) return has(v)
      if (v instanceof ArrayBuffer) return has(new Uint8Array(v))
      if (ArrayBuffer.isView(v)) return has(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))
      if (Array.isArray(v)) return v.some((x) => walk(x, depth + 1))
      if (typeof v === 'object') return Object.values(v as object).some((x) => walk(x, depth + 1))
      return false
    }
    const req = <T>(r: IDBRequest<T>) =>
      new Promise<T>((resolve, reject) => {
        r.onsuccess = () => resolve(r.result)
        r.onerror = () => reject(r.error)
      })
    for (const info of await indexedDB.databases()) {
      const db = await req(indexedDB.open(info.name!))
      for (const name of db.objectStoreNames) {
        const all = await req(db.transaction(name, 'readonly').objectStore(name).getAll())
        for (const v of all) {
          values++
          if (walk(v)) {
            db.close()
            return { holds: true, values }
          }
        }
      }
      db.close()
    }
    return { holds: false, values }
  }, needle)
}

/** Every file under `dir`. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })
}

describe('encrypted conversations', () => {
  it('a DM with an image, a private channel with a removal; canaries only on members’ pages', {
    timeout: 420_000,
  }, async () => {
    const { relay, browser } = stack!
    const enter = async (name: string) => {
      const page = await joinAs(browser, relay.appUrl, name, '', { initScript: RECORD_FRAMES })
      // What went wrong inside a page shows with the failure.
      page.on('console', (m) => {
        if (m.type() === 'warning' || m.type() === 'error')
          console.log(`real-private: ${name}'s page: ${m.text()}`)
      })
      return page
    }
    const ann = await enter('Ann')
    const bob = await enter('Bob')
    const cara = await enter('Cara')
    const dave = await enter('Dave')
    const pages = [ann, bob, cara, dave]
    for (const name of ['Bob', 'Cara', 'Dave'])
      await expect.poll(() => ann.locator('.people-list').textContent(), SEEN).toContain(name)

    // ---- A direct message: Ann and Bob.
    await startConversation(ann, ['Bob'])
    await expect.poll(() => ann.locator('.topbar h1').textContent(), SEEN).toContain('Bob')
    await open(bob, /^Ann, encrypted/)
    await send(ann, `hello Bob ${DM_CANARY}`)
    await expect.poll(() => messageWith(bob, DM_CANARY).count(), SEEN).toBe(1)
    await expect.poll(() => bob.locator('.notice').first().textContent(), SEEN).toContain('You joined')

    // A reply, a reaction and an edit, inside the encryption.
    const onBob = messageWith(bob, DM_CANARY)
    await onBob.hover()
    await onBob.getByRole('button', { name: 'Reply' }).click()
    await bob.keyboard.type('a reply from Bob')
    await bob.keyboard.press('Enter')
    await expect
      .poll(() => messageWith(ann, 'a reply from Bob').locator('.quote').textContent(), SEEN)
      .toContain(DM_CANARY)
    await onBob.hover()
    await onBob.getByRole('button', { name: 'Add reaction' }).click()
    await bob.getByRole('button', { name: 'React 🎉' }).click()
    await expect.poll(() => messageWith(ann, DM_CANARY).locator('.chip').textContent(), SEEN).toContain('🎉')
    await composerOf(bob).click()
    await bob.keyboard.press('ArrowUp')
    await composerOf(bob).fill('a reply from Bob, edited')
    await composerOf(bob).press('Enter')
    await expect
      .poll(() => messageWith(ann, 'a reply from Bob, edited').textContent(), SEEN)
      .toContain('(edited)')

    // An image: sealed before it becomes a blob; Bob's page shows the very bytes Ann chose.
    const png = noisePng(240, 160, 11)
    await ann
      .getByTestId('attach-input')
      .setInputFiles({ name: 'secret-plan.png', mimeType: 'image/png', buffer: png })
    await bob.locator('img.full').waitFor({ timeout: SEEN.timeout })
    expect(await shownDigest(bob)).toBe(sha256(png))
    await ann.screenshot({ path: join(SHOTS, 'private-dm.png') })

    // ---- A private channel: Ann, Bob and Cara; Ann removes Cara.
    await startConversation(ann, ['Bob', 'Cara'], 'Plans')
    await expect.poll(() => ann.locator('.topbar h1').textContent(), SEEN).toContain('Plans')
    await open(bob, /^Plans, encrypted/)
    await open(cara, /^Plans, encrypted/)
    await send(ann, `the plan is ${ROOM_CANARY}`)
    for (const page of [bob, cara])
      await expect.poll(() => messageWith(page, ROOM_CANARY).count(), SEEN).toBe(1)
    // Only its creator manages who is in it.
    await expect(bob.locator('.private-bar .link').textContent()).resolves.toBe('Details')

    await ann.locator('.private-bar .link').click()
    await ann.getByRole('button', { name: 'Remove Cara' }).click()
    await expect.poll(() => cara.locator('.private-bar .who.left').count(), SEEN).toBe(1)
    await expect
      .poll(() => cara.locator('.notice').last().textContent(), SEEN)
      .toContain('You were removed by Ann')
    await expect(composerOf(cara).isDisabled()).resolves.toBe(true)
    await expect.poll(() => ann.locator('.notice').last().textContent(), SEEN).toContain('You removed Cara')
    // The others go on; Cara reads nothing sent after.
    await send(ann, `still planning ${AFTER_CANARY}`)
    await expect.poll(() => messageWith(bob, AFTER_CANARY).count(), SEEN).toBe(1)
    await send(bob, 'Bob goes on too')
    await expect.poll(() => messageWith(ann, 'Bob goes on too').count(), SEEN).toBe(1)
    await new Promise((r) => setTimeout(r, 2_000))
    expect(await messageWith(cara, AFTER_CANARY).count()).toBe(0)
    expect(await messageWith(cara, ROOM_CANARY).count()).toBe(1) // what she read stays
    await cara.screenshot({ path: join(SHOTS, 'private-removed.png') })

    // ---- Where the canaries are not.
    for (const page of pages)
      for (const canary of [DM_CANARY, ROOM_CANARY, AFTER_CANARY])
        expect(await framesHold(page, canary)).toBe(false)
    // Ann's device keeps what she sent (the check can find a canary)...
    expect((await indexedDbHolds(ann, DM_CANARY)).holds).toBe(true)
    // ...Dave's, in the community but in neither conversation, none.
    for (const canary of [DM_CANARY, ROOM_CANARY, AFTER_CANARY]) {
      const { holds, values } = await indexedDbHolds(dave, canary)
      expect(values).toBeGreaterThan(0)
      expect(holds).toBe(false)
    }
    expect(
      await dave.getByRole('list', { name: 'Direct messages and private channels' }).locator('li').count(),
    ).toBe(0)

    // Bob's copy is his history: after a reload the DM shows from his device (peers hold only
    // ciphertext), the image too (its seal came back with the plaintext).
    await bob.reload()
    await bob.locator('.conn.online').waitFor({ timeout: SEEN.timeout })
    await open(bob, /^Ann, encrypted/)
    await expect.poll(() => messageWith(bob, DM_CANARY).count(), SEEN).toBe(1)
    await bob.locator('img.full').waitFor({ timeout: SEEN.timeout })
    expect(await shownDigest(bob)).toBe(sha256(png))

    // A second tab of Ann's: one tab at a time holds the MLS keys; it says so and waits.
    const second = await ann.context().newPage()
    await second.goto(relay.appUrl)
    await expect
      .poll(() => second.locator('.channels .hint').textContent(), SEEN)
      .toContain('Open in another tab of this browser')
    await second.close()

    // The virtual client holds the groups' channels (ciphertext) and no canary, on disk or in memory.
    const files = filesUnder(join(vcDir, 'vc1'))
    const disk = Buffer.concat(files.map((f) => readFileSync(f)))
    await expect
      .poll(
        () => Buffer.concat(filesUnder(join(vcDir, 'vc1')).map((f) => readFileSync(f))).includes('mls.02'),
        SEEN,
      )
      .toBe(true)
    for (const canary of [DM_CANARY, ROOM_CANARY, AFTER_CANARY]) expect(disk.includes(canary)).toBe(false)
    vc!.child.kill('SIGUSR2')
    await expect
      .poll(
        () => filesUnder(snapshots).filter((f) => f.endsWith('.heapsnapshot') && statSync(f).size > 0).length,
        {
          timeout: 120_000,
          interval: 500,
        },
      )
      .toBe(1)
    const [snapshot] = filesUnder(snapshots)
    // Written in one go: wait until its size stops changing.
    let size = -1
    while (statSync(snapshot!).size !== size) {
      size = statSync(snapshot!).size
      await new Promise((r) => setTimeout(r, 1_000))
    }
    const heap = readFileSync(snapshot!)
    expect(heap.includes('mls-welcomes')).toBe(true) // the snapshot has the process's strings
    for (const canary of [DM_CANARY, ROOM_CANARY, AFTER_CANARY]) expect(heap.includes(canary)).toBe(false)
  })
})
