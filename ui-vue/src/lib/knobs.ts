/**
 * Measurement knobs read from the page URL (used by bench/ui.ts and the browser tests):
 * `?page=N` loads N events when a channel opens, `?older=N` N per older page (small pages make
 * a long history cheap to test), `?overscan=PX` renders PX pixels of rows
 * beyond the viewport (a huge value turns virtualization off: the benchmark's baseline).
 */
export interface UiKnobs {
  firstPage?: number
  olderPage?: number
  overscan?: number
}

/** Most events a first page may hold (default 200,000, the largest simulated history). */
export const KNOB_PAGE_MAX = 200_000

export function uiKnobs(search: string): UiKnobs {
  const params = new URLSearchParams(search)
  const read = (key: string, max: number): number | undefined => {
    const n = Number(params.get(key) ?? Number.NaN)
    return Number.isInteger(n) && n > 0 ? Math.min(n, max) : undefined
  }
  return {
    firstPage: read('page', KNOB_PAGE_MAX),
    olderPage: read('older', KNOB_PAGE_MAX),
    overscan: read('overscan', Number.MAX_SAFE_INTEGER),
  }
}
