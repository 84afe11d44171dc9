/**
 * Prometheus text exposition (version 0.0.4), shared by the relay's and the virtual clients'
 * `/metrics`: each metric once with its HELP and TYPE lines, then one line per sample.
 */
export interface PrometheusMetric {
  name: string
  type: 'gauge' | 'counter'
  help: string
  /** One sample per label set; none renders the HELP and TYPE lines alone. */
  samples: readonly { labels?: Readonly<Record<string, string>>; value: number }[]
}

/** Label values are ours or a configured name: quotes, backslashes and newlines become `_`. */
const labelValue = (v: string): string => v.replace(/["\\\n]/g, '_')

export function renderPrometheus(metrics: readonly PrometheusMetric[]): string {
  let out = ''
  for (const { name, type, help, samples } of metrics) {
    out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`
    for (const { labels, value } of samples) {
      const set = labels ? Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`) : []
      out += `${name}${set.length ? `{${set.join(',')}}` : ''} ${value}\n`
    }
  }
  return out
}
