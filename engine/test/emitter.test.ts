import { describe, expect, it } from 'vitest'
import { TypedEmitter } from '../src/emitter.ts'

describe('TypedEmitter', () => {
  it('on returns its unsubscribe; listeners of the moment run in order; errors reach the emitter', () => {
    const e = new TypedEmitter<{ n: number }>()
    const seen: string[] = []
    const offA = e.on('n', (n) => {
      seen.push(`a${n}`)
      offA() // unsubscribing while emitting does not skip the next listener
    })
    e.on('n', (n) => seen.push(`b${n}`))
    e.emit('n', 1)
    e.emit('n', 2)
    expect(seen).toEqual(['a1', 'b1', 'b2'])
    expect(e.size).toBe(1)
    e.on('n', () => {
      throw new Error('boom')
    })
    expect(() => e.emit('n', 3)).toThrow('boom')
    e.clear()
    expect(e.size).toBe(0)
  })
})
