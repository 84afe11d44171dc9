/** Pure helpers of the voice IO: what to tell the user when the microphone fails, and speaking detection. */

/** A message for a getUserMedia failure, by the DOMException's name. */
export function micErrorMessage(e: unknown): string {
  const name = (e as { name?: unknown } | null)?.name
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return 'Microphone access was denied. Allow the microphone for this site in the browser (the icon left of the address), then join again.'
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No microphone was found. Connect one, or pick another input device, and join again.'
    case 'NotReadableError':
    case 'AbortError':
      return 'The microphone could not be started: another application may be using it.'
    case 'NoMediaDevices':
      return 'This page cannot use a microphone: voice needs a secure origin (https or localhost).'
    default:
      return `The microphone could not be opened${e instanceof Error && e.message ? `: ${e.message}` : '.'}`
  }
}

/** Level (RMS of the samples, 0..1) above which someone starts speaking, and below which they stop. */
export const SPEAKING_ON = 0.02
export const SPEAKING_OFF = 0.01

/** Root mean square of a block of samples. */
export function rms(samples: Float32Array): number {
  let sum = 0
  for (const s of samples) sum += s * s
  return samples.length === 0 ? 0 : Math.sqrt(sum / samples.length)
}

/** How long the indicator stays on after the last loud sample (default 400 ms): speech has gaps. */
export const SPEAKING_HOLD_MS = 400

/** Loud enough to count as speech, with hysteresis so the level does not flicker around one threshold. */
export function isSpeaking(level: number, was: boolean): boolean {
  return was ? level >= SPEAKING_OFF : level >= SPEAKING_ON
}

/** One meter reading: speaking while loud, and for SPEAKING_HOLD_MS after. */
export function nextSpeaking(
  level: number,
  m: { speaking: boolean; loudAt: number },
  now: number,
): { speaking: boolean; loudAt: number } {
  const loudAt = isSpeaking(level, m.speaking) ? now : m.loudAt
  return { speaking: now - loudAt < SPEAKING_HOLD_MS, loudAt }
}
