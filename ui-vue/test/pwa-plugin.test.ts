/** The service worker written into the build (pwa/plugin.ts): the build's files, a version that follows them. */
import { describe, expect, it } from 'vitest'
import { serviceWorker } from '../pwa/plugin.ts'

function build(files: string[]): string {
  let source = ''
  const plugin = serviceWorker()
  const hook = plugin.generateBundle as (this: unknown, o: unknown, b: Record<string, unknown>) => void
  hook.call(
    {
      emitFile: (f: { fileName: string; source: string }) => {
        if (f.fileName === 'sw.js') source = f.source
      },
    },
    {},
    Object.fromEntries(files.map((f) => [f, {}])),
  )
  return source
}

const filesOf = (sw: string): string[] => JSON.parse(/const FILES = (\[.*\])/.exec(sw)![1]!)
const versionOf = (sw: string): string => /const VERSION = "([0-9a-f]{16})"/.exec(sw)![1]!

describe('service worker plugin', () => {
  it('caches the page, the public files and every file of the build', () => {
    const sw = build(['index.html', 'assets/index-abc.js', 'assets/CanvasPane-def.js'])
    expect(filesOf(sw)).toEqual([
      './',
      './assets/CanvasPane-def.js',
      './assets/index-abc.js',
      './icon.svg',
      './index.html',
      './manifest.webmanifest',
    ])
    expect(sw).not.toContain('__FILES__')
  })

  it('changes its version when a file changes, so browsers install the new one', () => {
    const a = build(['index.html', 'assets/index-abc.js'])
    expect(versionOf(build(['assets/index-abc.js', 'index.html']))).toBe(versionOf(a))
    expect(versionOf(build(['index.html', 'assets/index-xyz.js']))).not.toBe(versionOf(a))
  })
})
