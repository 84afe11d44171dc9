/**
 * The relay's public key from its well-known JSON (relay/src/http.ts), for when it was not
 * given. Trusting what the relay says about itself is for a first try on your own machine:
 * pass the key (the relay prints it) to pin it.
 */
export async function fetchRelayKey(relayUrl: string): Promise<string> {
  const url = `${relayUrl.replace(/^ws/, 'http')}/.well-known/peerchat.json`
  const response = await fetch(url)
  if (!response.ok) throw new Error(`${url}: ${response.status}`)
  const { relayKey } = (await response.json()) as { relayKey: string }
  return relayKey
}
