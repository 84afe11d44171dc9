/**
 * The relay's log: one line per event, `TIME EVENT key=value ...` (logfmt after the event
 * name). scripts/start.mjs and the virtual clients print the same shape, so `pnpm start`
 * shows one format. Callers pass only non-secret fields (never tokens, nonces or keys in full).
 */
export type Logger = (event: string, fields?: Record<string, string | number | boolean>) => void

/** One log line (no newline): ISO time, event name, then `key=value` (values with spaces quoted). */
export function formatLogLine(event: string, fields: Record<string, unknown> = {}): string {
  let line = `${new Date().toISOString()} ${event}`
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue
    const text =
      typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)
    line += ` ${k}=${text === '' || /[\s"=]/.test(text) ? JSON.stringify(text) : text}`
  }
  return line
}

/** Every event (the `--verbose` log). */
export const consoleLogger: Logger = (event, fields = {}) => {
  process.stdout.write(`${formatLogLine(event, fields)}\n`)
}

/**
 * Events about one connection: a line per browser (or virtual client) that connects, logs in,
 * opens signaling or leaves. Shown only with `--verbose` / PEERCHAT_VERBOSE=1.
 */
export const CONNECTION_EVENTS: ReadonlySet<string> = new Set([
  'relay.open',
  'relay.login',
  'relay.close',
  'relay.end',
  'signal.open',
  'signal.close',
  'signal.refused',
])

/**
 * The default log: what an operator needs (listening, errors, slow consumers), without a line
 * per connection and without the relay's public key (in /config and
 * /.well-known/peerchat.json, or with --verbose).
 */
export const operatorLogger: Logger = (event, fields = {}) => {
  if (CONNECTION_EVENTS.has(event)) return
  const { relayKey: _key, ...rest } = fields
  consoleLogger(event, rest)
}

export const silentLogger: Logger = () => {}

/** `--verbose` or PEERCHAT_VERBOSE=1 (or true/yes). */
export function verboseFromEnv(env: NodeJS.ProcessEnv): boolean {
  return /^(1|true|yes)$/i.test(env.PEERCHAT_VERBOSE ?? '')
}
