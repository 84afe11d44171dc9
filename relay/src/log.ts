/** One line per connection event, as logfmt. Callers pass only non-secret fields (never tokens, nonces or keys in full). */
export type Logger = (event: string, fields?: Record<string, string | number | boolean>) => void

export const consoleLogger: Logger = (event, fields = {}) => {
  let line = `${new Date().toISOString()} ${event}`
  for (const [k, v] of Object.entries(fields))
    line += ` ${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : v}`
  process.stdout.write(`${line}\n`)
}

export const silentLogger: Logger = () => {}
