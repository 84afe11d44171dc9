// Fails when a relative import cycle exists in any package's src/ (Yjs-style hygiene),
// or when the engine core imports a node: module or a transport.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const roots = [
  'engine/src',
  'transports/src',
  'relay/src',
  'virtual-client/src',
  'ui-vue/src',
  'stores/file/src',
  'stores/indexeddb/src',
]
const files = []
const walk = (d) => {
  let entries
  try {
    entries = readdirSync(d)
  } catch {
    return
  }
  for (const e of entries) {
    const p = join(d, e)
    if (statSync(p).isDirectory()) walk(p)
    else if (/\.(ts|vue)$/.test(e)) files.push(resolve(p))
  }
}
roots.forEach(walk)

const importRe = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g
const graph = new Map()
const problems = []
for (const f of files) {
  const src = readFileSync(f, 'utf8')
  const deps = []
  for (const m of src.matchAll(importRe)) {
    const spec = m[1] ?? m[2]
    const rel = relative(process.cwd(), f)
    if (rel.startsWith('engine/src/') && !rel.startsWith('engine/src/node/')) {
      if (spec.startsWith('node:')) problems.push(`${rel}: engine core must not import ${spec} (inject it)`)
      if (spec.startsWith('@peerchat/') && !spec.startsWith('@peerchat/engine'))
        problems.push(`${rel}: engine must not import ${spec}`)
    }
    // Yjs loads only through the /docs entry (and WebRTC's transport): the core, /chat, /kit and the relay stay small.
    const yjsAllowed = /^engine\/src\/(docs|node)\/|^transports\/|^ui-vue\/|^stores\/indexeddb\//.test(rel)
    if (/^(yjs|y-protocols)(\/|$)/.test(spec) && !yjsAllowed)
      problems.push(`${rel}: only the /docs entry may import ${spec}`)
    if (rel.startsWith('relay/src/') && /^@peerchat\/engine\/(docs|blobs)/.test(spec))
      problems.push(`${rel}: the relay imports the engine core only, not ${spec}`)
    const inCore =
      rel.startsWith('engine/src/') && !/^engine\/src\/(docs|chat|blobs|kit|node|testing)\//.test(rel)
    if (
      inCore &&
      spec.startsWith('.') &&
      /\/(docs|chat|blobs|kit|node|testing)\//.test(resolve(dirname(f), spec))
    )
      problems.push(
        `${rel}: the engine core must not import ${spec} (entries depend on the core, not the reverse)`,
      )
    if (spec.startsWith('.')) deps.push(resolve(dirname(f), spec))
  }
  graph.set(
    f,
    deps.filter((d) => graph.has(d) || files.includes(d)),
  )
}

const state = new Map()
const stack = []
const visit = (f) => {
  state.set(f, 1)
  stack.push(f)
  for (const d of graph.get(f) ?? []) {
    if (state.get(d) === 1) {
      const cycle = stack
        .slice(stack.indexOf(d))
        .concat(d)
        .map((p) => relative(process.cwd(), p))
      problems.push(`import cycle: ${cycle.join(' -> ')}`)
    } else if (!state.has(d)) visit(d)
  }
  stack.pop()
  state.set(f, 2)
}
for (const f of files) if (!state.has(f)) visit(f)

if (problems.length) {
  console.error(problems.join('\n'))
  process.exit(1)
}
console.log(`check-cycles: ${files.length} files, no import cycles`)
