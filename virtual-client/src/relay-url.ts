/** The relay's base URL as given on the command line, in its http(s) and ws(s) forms. */

/** http(s) and ws(s) forms of the relay's base URL. */
export function relayUrls(url: string): { http: string; ws: string } {
  const u = new URL(url)
  const secure = u.protocol === 'https:' || u.protocol === 'wss:'
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol))
    throw new RangeError(`relay URL must be http(s) or ws(s): ${url}`)
  const base = `${u.host}${u.pathname.replace(/\/+$/, '')}`
  return { http: `${secure ? 'https' : 'http'}://${base}`, ws: `${secure ? 'wss' : 'ws'}://${base}` }
}

/** `--relay`: one URL, or several comma-separated (the nodes of one community), each checked. */
export function relayList(text: string): string[] {
  const urls = text
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '')
  if (urls.length === 0) throw new RangeError('--relay needs at least one URL')
  for (const u of urls) relayUrls(u)
  return urls
}
