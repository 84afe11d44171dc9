/**
 * Channel canvases: which Yjs editor binding (issue: "choose by bundle size, input latency and
 * accessibility, measured"). Two candidates side by side in one run, B printed as a ratio of A:
 *
 *   A  CodeMirror 6 (state, view, commands, lang-markdown) + y-codemirror.next on a Y.Text
 *   B  Tiptap 3 (core, StarterKit without its own undo, Collaboration, CollaborationCaret) on a
 *      Y.XmlFragment (Tiptap's fork of y-prosemirror, @tiptap/y-tiptap)
 *
 * Each page mounts its editor on a ~20,000-character document (250 lines / paragraphs) with a
 * y-protocols Awareness and a remote user's caret on screen, and measures:
 *   1. minified esbuild bundle of the page, raw and gzip -9, with Yjs and with Yjs external
 *   2. keystroke latency: keydown (capture, before the editor sees it) to the first animation
 *      frame after both the line's DOM and the Y.Doc hold the character
 *   3. remote latency: Y.applyUpdate of a peer's one-character edit to the first animation frame
 *      after the DOM shows it
 *   4. accessibility facts read from the DOM and Chromium's accessibility tree
 * Pages are served from 127.0.0.1 and every other request is aborted and reported. Rounds
 * alternate A, B, A, B… so load on the machine hits both alike.
 *
 *   pnpm bench:editor-choice          (KEYS=300 REMOTE=300 ROUNDS=4 by default)
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build, type Metafile } from 'esbuild'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { launchChromium } from '../tests/e2e/browser.ts'
import { serveStatic } from '../tests/e2e/static-server.ts'

const KEYS = Number(process.env.KEYS ?? 300)
const REMOTE = Number(process.env.REMOTE ?? 300)
const ROUNDS = Number(process.env.ROUNDS ?? 4)
const WARMUP = 20 // keystrokes / remote edits per round not counted (JIT, first layout)
const LINES = 250
const LINE_CHARS = 79 // + a newline: 250 x 80 = 20,000 characters
const LOCAL_LINE = 125 // the local user types at the end of this line (mid-document)
const REMOTE_LINE = 122 // the peer types here, on screen near the local caret
const CARET_LINE = 120 // the peer's caret is shown here: its name label must not sit in the lines we read
const ARIA_LABEL = 'Channel canvas'
const HERE = fileURLToPath(new URL('.', import.meta.url))

// playwright-core is the tests package's dependency: its types are reached through the helper
type Browser = Awaited<ReturnType<typeof launchChromium>>
type Page = Awaited<ReturnType<Browser['newPage']>>
type Kind = 'text' | 'xml'
interface Candidate {
  id: 'a' | 'b'
  name: string
  kind: Kind
  /** Page module: sets `window.editorPage` (see HARNESS for what it must offer). */
  page: string
}

// Both pages expose the same small surface; Y.applyUpdate and applyAwarenessUpdate are what a
// provider calls anyway, so exposing them adds nothing a real canvas would not load.
const PAGE_COMMON = `
import * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate } from 'y-protocols/awareness'
const doc = new Y.Doc()
const awareness = new Awareness(doc)
awareness.setLocalStateField('user', { name: 'Ann', color: '#3366ff' })
const common = {
  doc,
  applyUpdate: (u) => Y.applyUpdate(doc, u, 'remote'),
  applyAwareness: (u) => applyAwarenessUpdate(awareness, u, 'remote'),
}
`

/**
 * Candidate A's page with the given Markdown support. `markdown()` also bundles the HTML, CSS
 * and JavaScript parsers (for HTML inside Markdown); the bare `markdownLanguage` does not, so
 * its size is printed too, to show what that default costs.
 */
const codemirrorPage = (markdownSupport: string) => `${PAGE_COMMON}
import { EditorState } from '@codemirror/state'
import { EditorView, keymap } from '@codemirror/view'
import { defaultKeymap } from '@codemirror/commands'
import { markdown, markdownKeymap, markdownLanguage } from '@codemirror/lang-markdown'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
let view
window.editorPage = { ...common,
  mount(initial, label) {
    Y.applyUpdate(doc, initial, 'remote')
    const text = doc.getText('canvas')
    view = new EditorView({ parent: document.getElementById('editor'), state: EditorState.create({
      doc: text.toString(),
      extensions: [keymap.of([...yUndoManagerKeymap, ...defaultKeymap]), ${markdownSupport}, EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': label }), yCollab(text, awareness)],
    }) })
  },
  root: () => view.contentDOM,
  caretToEndOf(line) {
    view.dispatch({ selection: { anchor: view.state.doc.line(line + 1).to }, scrollIntoView: true })
    view.focus()
  },
}`
const MARKDOWN_ONLY = 'markdownLanguage.extension, keymap.of(markdownKeymap)'

const CANDIDATES: Candidate[] = [
  {
    id: 'a',
    name: 'A: CodeMirror 6 + y-codemirror.next',
    kind: 'text',
    page: codemirrorPage('markdown()'),
  },
  {
    id: 'b',
    name: 'B: Tiptap 3 (ProseMirror) + Collaboration',
    kind: 'xml',
    page: `${PAGE_COMMON}
import { Editor } from '@tiptap/core'
import { StarterKit } from '@tiptap/starter-kit'
import { Collaboration } from '@tiptap/extension-collaboration'
import { CollaborationCaret } from '@tiptap/extension-collaboration-caret'
let editor
window.editorPage = { ...common,
  mount(initial, label) {
    Y.applyUpdate(doc, initial, 'remote')
    editor = new Editor({ element: document.getElementById('editor'),
      extensions: [StarterKit.configure({ undoRedo: false }), Collaboration.configure({ document: doc, field: 'canvas' }),
        CollaborationCaret.configure({ provider: { awareness }, user: { name: 'Ann', color: '#3366ff' } })],
      editorProps: { attributes: { 'aria-label': label } } })
  },
  root: () => editor.view.dom,
  caretToEndOf(line) {
    let pos = 0
    for (let i = 0; i <= line; i++) pos += editor.state.doc.child(i).nodeSize
    editor.chain().focus().setTextSelection(pos - 1).scrollIntoView().run()
  },
}`,
  },
]

/**
 * In-page measuring code, a plain string: tsx compiles this file with keepNames, and its
 * `__name` helper does not exist in the page, so functions are not passed to page.evaluate.
 */
const HARNESS = `window.bench = (() => {
  const ed = window.editorPage
  let updates = 0
  ed.doc.on('update', () => updates++)
  const blocks = new Map()
  // the editor block (.cm-line or <p>) whose text starts with label; re-found if replaced
  const block = (label) => {
    let el = blocks.get(label)
    if (!el || !el.isConnected || !el.textContent.startsWith(label)) {
      el = [...ed.root().children].find((e) => e.textContent.startsWith(label))
      blocks.set(label, el)
    }
    return el
  }
  // [when cond() first held, the first animation frame after]; cond is checked after every DOM
  // mutation, Yjs update and frame, so each editor's own scheduling decides when it holds
  const frameAfter = (cond, what) => new Promise((resolve, reject) => {
    let done = false
    const stop = () => { done = true; mo.disconnect(); ed.doc.off('update', onUpdate); clearTimeout(timer) }
    const check = () => {
      if (done || !cond()) return
      stop()
      const held = performance.now()
      requestAnimationFrame(() => resolve([held, performance.now()]))
    }
    const onUpdate = () => queueMicrotask(check)
    const mo = new MutationObserver(check)
    mo.observe(ed.root(), { subtree: true, childList: true, characterData: true })
    ed.doc.on('update', onUpdate)
    const timer = setTimeout(() => { stop(); reject(new Error('timeout: ' + what)) }, 5000)
    const poll = () => { if (!done) { check(); requestAnimationFrame(poll) } }
    poll()
  })
  const local = { label: '', typed: '', out: [], dom: [], errors: [] }
  document.addEventListener('keydown', (e) => {
    if (e.key.length !== 1 || !local.label) return
    const t0 = performance.now()
    const before = updates
    const want = (local.typed += e.key)
    frameAfter(() => updates > before && block(local.label)?.textContent.endsWith(want), 'keystroke ' + want.length)
      .then(([held, frame]) => { local.dom.push(held - t0); local.out.push(frame - t0) }, (err) => local.errors.push(String(err)))
  }, true)
  return {
    local,
    typeAt(line, label) { ed.caretToEndOf(line); local.label = label },
    async remote(bytes, label, want) {
      const u = new Uint8Array(bytes)
      const shown = frameAfter(() => block(label)?.textContent.startsWith(want), 'remote ' + want)
      const t0 = performance.now()
      ed.applyUpdate(u)
      return (await shown).map((t) => t - t0)
    },
    a11y(labels, peer) {
      const r = ed.root()
      const text = r.textContent
      const name = [...r.querySelectorAll('*')].find((e) => e.childElementCount === 0 && e.textContent === peer)
      return {
        contenteditable: r.getAttribute('contenteditable'),
        role: r.getAttribute('role'),
        multiline: r.getAttribute('aria-multiline'),
        label: r.getAttribute('aria-label'),
        canvases: document.querySelectorAll('canvas').length,
        linesInDom: labels.filter((l) => text.includes(l)).length,
        peerNameInText: !!name && !name.closest('[aria-hidden="true"]'),
      }
    },
  }
})()`

interface A11y {
  contenteditable: string | null
  role: string | null
  multiline: string | null
  label: string | null
  canvases: number
  linesInDom: number
  peerNameInText: boolean
  /** Playwright's getByRole('textbox', { name }) finds it: role and name reach the a11y tree. */
  textboxByRole: boolean
}
type Harness = {
  bench: {
    local: { out: number[]; dom: number[]; errors: string[] }
    remote(bytes: number[], label: string, want: string): Promise<[number, number]>
  }
}

const label = (i: number) => `L${i}: `
const lineText = (i: number) =>
  `${label(i)}${'lorem ipsum dolor sit amet, consectetur adipiscing elit '.repeat(2)}`.slice(
    0,
    LINE_CHARS - 1,
  ) + '.'
const letter = (i: number) => String.fromCharCode(97 + (i % 26))

// --- 1. bundle sizes ---------------------------------------------------------------------

interface Size {
  raw: number
  gzip: number
  js: Uint8Array
  metafile: Metafile
}

/** The page as a production build would ship it: one minified ESM file for the browser. */
async function bundle(page: string, external: string[] = []): Promise<Size> {
  const out = await build({
    stdin: { contents: page, resolveDir: HERE, loader: 'js' },
    bundle: true,
    minify: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external,
    metafile: true,
    logLevel: 'error',
  })
  const js = out.outputFiles[0]!.contents
  return { raw: js.length, gzip: gzipSync(js, { level: 9 }).length, js, metafile: out.metafile }
}

/** Minified bytes per npm package (where the size comes from); also catches a doubled Yjs. */
function byPackage(metafile: Metafile): [string, number][] {
  const sums = new Map<string, number>()
  for (const output of Object.values(metafile.outputs))
    for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
      const m = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
      const key = m ? m[1]! : 'page'
      sums.set(key, (sums.get(key) ?? 0) + bytesInOutput)
    }
  const yjsCopies = new Set(
    Object.keys(metafile.inputs).flatMap((p) => /(.*node_modules\/yjs)\//.exec(p)?.[1] ?? []),
  )
  if (yjsCopies.size > 1) throw new Error(`Yjs bundled twice: ${[...yjsCopies].join(', ')}`)
  return [...sums].sort((x, y) => y[1] - x[1])
}

// --- 2-3. the remote peer, in Node --------------------------------------------------------

/** The other user: holds the initial document, types one character at a time into one line. */
function remotePeer(kind: Kind) {
  const doc = new Y.Doc()
  const awareness = new Awareness(doc)
  let typed = ''
  const textOf = (line: number) =>
    kind === 'xml'
      ? ((doc.getXmlFragment('canvas').get(line) as Y.XmlElement).get(0) as Y.XmlText)
      : doc.getText('canvas')
  const offsetIn = (line: number) =>
    kind === 'xml' ? 0 : doc.getText('canvas').toString().indexOf(label(line))
  doc.transact(() => {
    const lines = Array.from({ length: LINES }, (_, i) => lineText(i))
    if (kind === 'text') doc.getText('canvas').insert(0, lines.join('\n'))
    else
      doc.getXmlFragment('canvas').insert(
        0,
        lines.map((l) => {
          const p = new Y.XmlElement('paragraph')
          p.insert(0, [new Y.XmlText(l)])
          return p
        }),
      )
  })
  const caret = Y.relativePositionToJSON(
    Y.createRelativePositionFromTypeIndex(
      textOf(CARET_LINE),
      offsetIn(CARET_LINE) + label(CARET_LINE).length,
    ),
  )
  awareness.setLocalState({
    user: { name: 'Ben', color: '#ee6600' },
    cursor: { anchor: caret, head: caret },
  })
  return {
    initial: () => Array.from(Y.encodeStateAsUpdate(doc)),
    /** A fresh awareness clock: the page drops a peer not heard from for 30 s. */
    awareness: () => {
      awareness.setLocalState({ ...awareness.getLocalState() })
      return Array.from(encodeAwarenessUpdate(awareness, [doc.clientID]))
    },
    /** Types ch after the label of REMOTE_LINE's typed run; the update and the text to expect. */
    type(ch: string): { update: number[]; want: string } {
      let update: Uint8Array | undefined
      const grab = (u: Uint8Array) => {
        update = u
      }
      doc.on('update', grab)
      const at = offsetIn(REMOTE_LINE) + label(REMOTE_LINE).length + typed.length
      textOf(REMOTE_LINE).insert(at, ch)
      doc.off('update', grab)
      typed += ch
      return { update: Array.from(update!), want: label(REMOTE_LINE) + typed }
    },
    destroy: () => awareness.destroy(),
  }
}

// --- 2-4. one round of one candidate in Chromium ------------------------------------------

/** Milliseconds per event: until the DOM shows it, and until the next animation frame. */
interface Latency {
  dom: number[]
  frame: number[]
}
interface Round {
  keys: Latency
  remote: Latency
  a11y: A11y
}

async function measureRound(
  browser: Browser,
  url: string,
  c: Candidate,
  keys: number,
  remoteEdits: number,
  offsite: string[],
): Promise<Round> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  // the page must not reach the internet: anything not from our server is aborted and reported
  await context.route('**/*', (route) => {
    if (route.request().url().startsWith(url)) return route.continue()
    offsite.push(route.request().url())
    return route.abort()
  })
  const page = await context.newPage()
  page.on('pageerror', (e) => console.error(`${c.name}: page error: ${e.message}`))
  const peer = remotePeer(c.kind)
  try {
    await page.goto(`${url}${c.id}/index.html`)
    await page.evaluate(
      ([initial, aria]) =>
        (window as unknown as { editorPage: { mount(u: Uint8Array, l: string): void } }).editorPage.mount(
          new Uint8Array(initial),
          aria,
        ),
      [peer.initial(), ARIA_LABEL] as const,
    )
    await applyAwareness(page, peer.awareness())
    await page.addScriptTag({ content: HARNESS })
    await page.evaluate(`bench.typeAt(${LOCAL_LINE}, ${JSON.stringify(label(LOCAL_LINE))})`)
    const keyTimes = await typeKeys(page, keys, () => applyAwareness(page, peer.awareness()))
    const remoteTimes: Latency = { dom: [], frame: [] }
    for (let i = 0; i < WARMUP + remoteEdits; i++) {
      if (i % 50 === 0) await applyAwareness(page, peer.awareness())
      const { update, want } = peer.type(letter(i))
      const [dom, frame] = await page.evaluate(
        ([u, l, w]) => (window as unknown as Harness).bench.remote(u, l, w),
        [update, label(REMOTE_LINE), want] as const,
      )
      if (i < WARMUP) continue
      remoteTimes.dom.push(dom)
      remoteTimes.frame.push(frame)
    }
    return { keys: keyTimes, remote: remoteTimes, a11y: await a11yFacts(page) }
  } finally {
    peer.destroy()
    await context.close()
  }
}

function applyAwareness(page: Page, update: number[]): Promise<void> {
  return page.evaluate(
    (u) =>
      (
        window as unknown as { editorPage: { applyAwareness(u: Uint8Array): void } }
      ).editorPage.applyAwareness(new Uint8Array(u)),
    update,
  )
}

/** One key at a time, each after the previous one is shown: latency, not throughput. */
async function typeKeys(page: Page, n: number, keepAlive: () => Promise<void>): Promise<Latency> {
  for (let i = 0; i < WARMUP + n; i++) {
    if (i % 50 === 0) await keepAlive()
    await page.keyboard.type(letter(i))
    await page.waitForFunction((k) => {
      const local = (window as unknown as Harness).bench.local
      return local.out.length >= k || local.errors.length > 0
    }, i + 1)
  }
  const { out, dom, errors } = await page.evaluate(() => (window as unknown as Harness).bench.local)
  if (errors.length) throw new Error(errors.join('\n'))
  return { dom: dom.slice(WARMUP), frame: out.slice(WARMUP) }
}

async function a11yFacts(page: Page): Promise<A11y> {
  const labels = Array.from({ length: LINES }, (_, i) => label(i))
  const facts = (await page.evaluate(`bench.a11y(${JSON.stringify(labels)}, 'Ben')`)) as A11y
  facts.textboxByRole = (await page.getByRole('textbox', { name: ARIA_LABEL }).count()) === 1
  return facts
}

// --- report ----------------------------------------------------------------------------

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`
const ms = (n: number) => `${n.toFixed(1)} ms`
const ratio = (b: number, a: number) => `${(b / a).toFixed(2)}x`
const yesNo = (v: boolean) => (v ? 'yes' : 'no')
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')

async function main(): Promise<void> {
  console.log(`load average at start: ${load()}`)
  const dir = mkdtempSync(join(tmpdir(), 'peerchat-editor-choice-'))
  const sizes = new Map<string, { full: Size; noYjs: Size }>()
  for (const c of CANDIDATES) {
    const full = await bundle(c.page)
    sizes.set(c.id, { full, noYjs: await bundle(c.page, ['yjs']) })
    mkdirSync(join(dir, c.id))
    writeFileSync(join(dir, c.id, 'page.js'), full.js)
    writeFileSync(
      join(dir, c.id, 'index.html'),
      '<!doctype html><meta charset="utf-8"><title>canvas</title>' +
        '<style>#editor{max-width:48rem;margin:auto}</style>' +
        '<div id="editor"></div><script type="module" src="page.js"></script>',
    )
    const top = byPackage(full.metafile).slice(0, 10)
    console.log(`${c.name}: largest parts (minified) ${top.map(([p, n]) => `${p} ${kb(n)}`).join(', ')}`)
  }

  const markdownOnly = codemirrorPage(MARKDOWN_ONLY)
  const slim = { full: await bundle(markdownOnly), noYjs: await bundle(markdownOnly, ['yjs']) }

  const server = await serveStatic(dir)
  const browser = await launchChromium()
  const offsite: string[] = []
  const results = new Map<string, Round[]>(CANDIDATES.map((c) => [c.id, []]))
  try {
    for (let r = 0; r < ROUNDS; r++)
      for (const c of CANDIDATES) {
        const keys = Math.ceil(KEYS / ROUNDS)
        results
          .get(c.id)!
          .push(await measureRound(browser, server.url, c, keys, Math.ceil(REMOTE / ROUNDS), offsite))
        console.log(`round ${r + 1}/${ROUNDS} ${c.name} done`)
      }
  } finally {
    await browser.close()
    await server.close()
  }
  if (offsite.length) throw new Error(`pages tried to fetch: ${offsite.join(', ')}`)

  const [a, b] = CANDIDATES.map((c) => {
    const rounds = results.get(c.id)!
    return {
      size: sizes.get(c.id)!,
      keys: { dom: rounds.flatMap((x) => x.keys.dom), frame: rounds.flatMap((x) => x.keys.frame) },
      remote: {
        dom: rounds.flatMap((x) => x.remote.dom),
        frame: rounds.flatMap((x) => x.remote.frame),
      },
      a11y: rounds.at(-1)!.a11y,
    }
  }) as [Results, Results]
  report(a, b, slim)
  console.log(`load average at end: ${load()}`)
}

interface Results {
  size: { full: Size; noYjs: Size }
  keys: Latency
  remote: Latency
  a11y: A11y
}

function report(a: Results, b: Results, slim: Results['size']): void {
  const rows: [string, string, string, string][] = []
  const num = (name: string, f: (x: Results) => number, fmt: (n: number) => string) =>
    rows.push([name, fmt(f(a)), fmt(f(b)), ratio(f(b), f(a))])
  const fact = (name: string, f: (x: Results) => string) => rows.push([name, f(a), f(b), ''])
  num('bundle, Yjs included: minified', (x) => x.size.full.raw, kb)
  num('bundle, Yjs included: gzip -9', (x) => x.size.full.gzip, kb)
  num('bundle, Yjs external: minified', (x) => x.size.noYjs.raw, kb)
  num('bundle, Yjs external: gzip -9', (x) => x.size.noYjs.gzip, kb)
  for (const yjs of ['full', 'noYjs'] as const)
    rows.push([
      `bundle, Yjs ${yjs === 'full' ? 'included' : 'external'}: gzip -9, A with \`markdownLanguage\` only (no HTML/CSS/JS parsers)`,
      kb(slim[yjs].gzip),
      kb(b.size[yjs].gzip),
      ratio(b.size[yjs].gzip, slim[yjs].gzip),
    ])
  for (const [name, pick] of [
    [`keystroke (n=${a.keys.frame.length})`, (x: Results) => x.keys],
    [`remote 1-char update (n=${a.remote.frame.length})`, (x: Results) => x.remote],
  ] as const)
    for (const q of [0.5, 0.99]) {
      num(`${name} -> next frame, p${q * 100}`, (x) => pct(pick(x).frame, q), ms)
      num(`${name} -> in the DOM (no frame wait), p${q * 100}`, (x) => pct(pick(x).dom, q), ms)
    }
  fact('contenteditable', (x) => String(x.a11y.contenteditable))
  fact('role / aria-multiline (defaults)', (x) => `${x.a11y.role ?? '-'} / ${x.a11y.multiline ?? '-'}`)
  fact('aria-label set through the editor API', (x) => yesNo(x.a11y.label === ARIA_LABEL))
  fact('found by getByRole("textbox", { name })', (x) => yesNo(x.a11y.textboxByRole))
  fact('text as DOM text (no canvas)', (x) => yesNo(x.a11y.canvases === 0))
  fact(`lines in the DOM (of ${LINES}, mid-document)`, (x) => String(x.a11y.linesInDom))
  fact("peer caret's name read as text", (x) => yesNo(x.a11y.peerNameInText))
  console.log(`\n| measure | ${CANDIDATES[0]!.name} | ${CANDIDATES[1]!.name} | B vs A |`)
  console.log('| --- | ---: | ---: | ---: |')
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
}

await main()
