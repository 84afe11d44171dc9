/**
 * The user's key and display name. The exported secret key is kept in localStorage
 * (readable by any script on this origin, not encrypted); the UI says so where the key is
 * shown.
 */
import { Identity, publicKeyToText, utf8 } from '@peerchat/engine'
import { computed, ref, shallowRef } from 'vue'
import { ChatLimits } from '../client/bodies.ts'

export const IDENTITY_STORAGE_KEY = 'peerchat.identity.v1'
/** Largest key file read on import (default 4 KiB; a key file is ~120 bytes). */
export const KEY_FILE_MAX_BYTES = 4096

/** Returns an error message for a key file that cannot be a key, or null. */
export function checkKeyFileSize(bytes: number): string | null {
  return bytes > KEY_FILE_MAX_BYTES
    ? `That file is too large to be a peerchat key (over ${KEY_FILE_MAX_BYTES} bytes).`
    : null
}

interface Stored {
  secret: string
  name: string
}

const identity = shallowRef<Identity | null>(null)
const name = ref('')
const status = ref<'loading' | 'none' | 'ready'>('loading')

/** Returns an error message, or null when the name is acceptable. */
export function checkDisplayName(value: string): string | null {
  const trimmed = value.trim()
  if (trimmed.length === 0) return 'Choose a display name.'
  if (utf8(trimmed).length > ChatLimits.name) return `A display name is at most ${ChatLimits.name} bytes.`
  return null
}

function save(): void {
  if (!identity.value) return
  const stored: Stored = { secret: identity.value.export(), name: name.value }
  localStorage.setItem(IDENTITY_STORAGE_KEY, JSON.stringify(stored))
}

async function load(): Promise<void> {
  try {
    const raw = localStorage.getItem(IDENTITY_STORAGE_KEY)
    if (raw) {
      const stored = JSON.parse(raw) as Partial<Stored>
      if (typeof stored.secret === 'string' && typeof stored.name === 'string') {
        identity.value = await Identity.import(stored.secret)
        name.value = stored.name
      }
    }
  } catch {
    // A corrupted entry is treated as no identity; the user can import their key again.
    identity.value = null
  }
  status.value = identity.value ? 'ready' : 'none'
}

async function create(displayName: string): Promise<void> {
  const problem = checkDisplayName(displayName)
  if (problem) throw new RangeError(problem)
  identity.value = await Identity.generate()
  name.value = displayName.trim()
  save()
  status.value = 'ready'
}

/** Replaces the current key with an imported one; throws a RangeError that says what is wrong. */
async function importKey(text: string, displayName: string): Promise<void> {
  const problem = checkDisplayName(displayName)
  if (problem) throw new RangeError(problem)
  identity.value = await Identity.import(text)
  name.value = displayName.trim()
  save()
  status.value = 'ready'
}

function exportKey(): string {
  if (!identity.value) throw new Error('no identity to export')
  return identity.value.export()
}

function rename(displayName: string): void {
  const problem = checkDisplayName(displayName)
  if (problem) throw new RangeError(problem)
  name.value = displayName.trim()
  save()
}

const publicId = computed(() => (identity.value ? publicKeyToText(identity.value.publicKey) : ''))

export function useIdentity() {
  return { identity, name, status, publicId, load, create, importKey, exportKey, rename }
}
