/**
 * Claim and invite links: `<community>/#claim=<base64url>` and `#invite=<base64url>` (32 random
 * bytes, docs/protocol/admin.md §4). The fragment never reaches a server; the app reads it once at
 * start, removes it from the address bar at once (`history.replaceState`, so it is neither in the
 * history nor in a copied URL), and keeps the secret only until the login that uses it.
 */
import { fromBase64url } from '@peerchat/engine'
import { INVITE_SECRET_BYTES } from '@peerchat/engine/chat'
import type { LinkSecret } from '@peerchat/transports/connect'

const LINK_RE = /^#(claim|invite)=([A-Za-z0-9_-]{1,64})$/

/** The link secret in a URL fragment, or undefined (none, or not 32 bytes of base64url). */
export function parseLinkFragment(hash: string): LinkSecret | undefined {
  const m = LINK_RE.exec(hash)
  if (!m) return undefined
  try {
    const secret = fromBase64url(m[2]!)
    if (secret.length !== INVITE_SECRET_BYTES) return undefined
    return { kind: m[1] as LinkSecret['kind'], secret }
  } catch {
    return undefined
  }
}

/** Reads a claim or invite link from the page's fragment and removes the fragment from the address bar. */
export function takeLinkFromUrl(
  loc: Pick<Location, 'hash' | 'href'> | undefined = globalThis.location,
  history: Pick<History, 'replaceState' | 'state'> | undefined = globalThis.history,
): LinkSecret | undefined {
  if (!loc || !/^#(claim|invite)=/.test(loc.hash)) return undefined
  const link = parseLinkFragment(loc.hash)
  history?.replaceState(history.state, '', loc.href.split('#')[0])
  return link
}
