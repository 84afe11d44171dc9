import { utf8 } from '@peerchat/engine'
import { describe, expect, it } from 'vitest'
import { ChatLimits } from '../src/client/bodies.ts'
import { SIM_PEERS_MAX, simOptionsFromUrl } from '../src/client/index.ts'
import { checkDisplayName, checkKeyFileSize, KEY_FILE_MAX_BYTES } from '../src/composables/useIdentity.ts'
import { KNOB_PAGE_MAX, uiKnobs } from '../src/lib/knobs.ts'

describe('UI limits', () => {
  it('display names: empty and over ChatLimits.name bytes are refused', () => {
    expect(checkDisplayName('   ')).toMatch(/Choose/)
    expect(checkDisplayName('é'.repeat(ChatLimits.name / 2))).toBeNull()
    expect(utf8('é'.repeat(ChatLimits.name / 2 + 1)).length).toBeGreaterThan(ChatLimits.name)
    expect(checkDisplayName('é'.repeat(ChatLimits.name / 2 + 1))).toMatch(/at most/)
  })

  it('key files over KEY_FILE_MAX_BYTES are not read', () => {
    expect(checkKeyFileSize(KEY_FILE_MAX_BYTES)).toBeNull()
    expect(checkKeyFileSize(KEY_FILE_MAX_BYTES + 1)).toMatch(/too large/)
  })

  it('URL knobs are capped: simulated peers and the first page', () => {
    expect(simOptionsFromUrl(`?peers=${SIM_PEERS_MAX + 1}`).peers).toBe(SIM_PEERS_MAX)
    expect(uiKnobs(`?page=${KNOB_PAGE_MAX + 1}`).firstPage).toBe(KNOB_PAGE_MAX)
    expect(uiKnobs('?page=0&overscan=-5')).toEqual({ firstPage: undefined, overscan: undefined })
    expect(uiKnobs('?page=250&overscan=900')).toEqual({ firstPage: 250, overscan: 900 })
    expect(uiKnobs('?page=10&older=10').olderPage).toBe(10)
  })
})
