import { equalBytes } from './bytes.ts'
import { publicKeyToText } from './identity/keys.ts'

/**
 * Returns a function giving the text form of a key, one string instance per distinct key.
 * Projections hold an author string per event: sharing one instance per key roughly halves a
 * view's memory (base64url built by concatenation is a rope of many small strings), and the
 * lookup by a hash of the raw bytes skips re-encoding for every event.
 */
export function keyTextInterner(): (key: Uint8Array) => string {
  const known = new Map<number, { key: Uint8Array; text: string }[]>()
  return (key) => {
    let h = 0x811c9dc5 // FNV-1a over the bytes: cheap, and collisions are resolved below
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193)
    const bucket = known.get(h)
    const hit = bucket?.find((k) => equalBytes(k.key, key))
    if (hit) return hit.text
    const entry = { key: key.slice(), text: publicKeyToText(key) }
    if (bucket) bucket.push(entry)
    else known.set(h, [entry])
    return entry.text
  }
}
