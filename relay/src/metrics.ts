/** Relay counters and gauges, rendered as Prometheus text exposition (version 0.0.4). */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { type PrometheusMetric, renderPrometheus } from '@peerchat/engine/node'

export class Metrics {
  connections = 0
  sessions = 0
  signalingConnections = 0
  messagesIn = 0
  messagesOut = 0
  stamps = 0
  checkpoints = 0
  backpressureDrops = 0
  /** Bytes of every frame received and sent on the relay path (fan-out counts each receiver). */
  bytesIn = 0
  bytesOut = 0
  /** Bytes of peer frames forwarded for the WebRTC fallback. */
  forwardedBytes = 0
  readonly rejections = new Map<string, number>()
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 })

  constructor() {
    this.loopDelay.enable()
  }

  reject(reason: string): void {
    this.rejections.set(reason, (this.rejections.get(reason) ?? 0) + 1)
  }

  stop(): void {
    this.loopDelay.disable()
  }

  /** `cluster`: the node's view of its cluster (absent for a node alone). */
  render(cluster?: { connected: boolean; nodes: number } | null): string {
    const one = (name: string, type: 'gauge' | 'counter', help: string, value: number): PrometheusMetric => ({
      name,
      type,
      help,
      samples: [{ value }],
    })
    const lagMs = Number.isFinite(this.loopDelay.mean) ? this.loopDelay.mean / 1e6 : 0
    return renderPrometheus([
      one('peerchat_relay_connections', 'gauge', 'Open relay-protocol sockets.', this.connections),
      one('peerchat_relay_sessions', 'gauge', 'Logged-in relay sockets.', this.sessions),
      one(
        'peerchat_relay_signaling_connections',
        'gauge',
        'Open signaling sockets.',
        this.signalingConnections,
      ),
      one('peerchat_relay_messages_in_total', 'counter', 'Frames received.', this.messagesIn),
      one(
        'peerchat_relay_messages_out_total',
        'counter',
        'Frames delivered (fan-out counts each receiver).',
        this.messagesOut,
      ),
      one('peerchat_relay_stamps_total', 'counter', 'Events stamped.', this.stamps),
      one(
        'peerchat_relay_checkpoints_total',
        'counter',
        'Relay checkpoints issued (one signature over a run of stamps).',
        this.checkpoints,
      ),
      one('peerchat_relay_bytes_in_total', 'counter', 'Bytes received on the relay path.', this.bytesIn),
      one('peerchat_relay_bytes_out_total', 'counter', 'Bytes sent on the relay path.', this.bytesOut),
      one(
        'peerchat_relay_forwarded_bytes_total',
        'counter',
        'Peer-frame bytes forwarded (WebRTC fallback).',
        this.forwardedBytes,
      ),
      one(
        'peerchat_relay_backpressure_drops_total',
        'counter',
        'Sockets closed as slow consumers.',
        this.backpressureDrops,
      ),
      {
        name: 'peerchat_relay_rejections_total',
        type: 'counter',
        help: 'Refused frames by reason.',
        samples: [...this.rejections].map(([reason, value]) => ({ labels: { reason }, value })),
      },
      one(
        'peerchat_relay_event_loop_lag_seconds',
        'gauge',
        'Mean event-loop delay since start.',
        lagMs / 1000,
      ),
      one(
        'peerchat_relay_event_loop_lag_p99_seconds',
        'gauge',
        'p99 event-loop delay since start.',
        this.loopDelay.percentile(99) / 1e9,
      ),
      one('process_resident_memory_bytes', 'gauge', 'Resident set size.', process.memoryUsage.rss()),
      ...(cluster
        ? [
            one(
              'peerchat_relay_redis_up',
              'gauge',
              '1 while the cluster Redis answers.',
              cluster.connected ? 1 : 0,
            ),
            one(
              'peerchat_relay_cluster_nodes',
              'gauge',
              'Live nodes seen, this one included.',
              cluster.nodes,
            ),
          ]
        : []),
    ])
  }
}
