/**
 * Every limit of the relay in one place, with its default. All are overridable through
 * `RelayOptions.limits` (and the CLI's --limit name=value); each has a test that exceeds it.
 */
export const DEFAULT_LIMITS = {
  /** Largest binary frame accepted on the relay path (an event body of 48 KiB plus headers fits). */
  maxFrameBytes: 56 * 1024,
  /** Largest JSON message accepted on the signaling path (an SDP offer is ~2-6 KiB). */
  maxSignalBytes: 16 * 1024,
  /** Stamped events per second per public key (token bucket refill rate) ... */
  eventsPerSecondPerKey: 20,
  /** ... and the burst the bucket holds. */
  eventBurstPerKey: 60,
  /** Frames per second per remote address, over all its sockets and both paths ... */
  framesPerSecondPerAddress: 200,
  /** ... and the burst. */
  frameBurstPerAddress: 400,
  /** Signaling messages per second per public key ... */
  signalsPerSecondPerKey: 50,
  /** ... and the burst (a WebRTC negotiation sends a dozen ICE candidates at once). */
  signalBurstPerKey: 200,
  /** Sockets per address that have not logged in yet. */
  unauthenticatedPerAddress: 16,
  /**
   * Logged-in sockets per remote address (close code 4005); signaling sockets per address are
   * counted apart against the same number. Every app tab or device holds one of each, so 64 lets
   * a household, an office or a meetup share one NAT address, while one host can no longer hold
   * thousands of sockets that each receive every event of the channels they join.
   */
  socketsPerAddress: 64,
  /**
   * Logged-in sockets per public key (close code 4006), and signaling sockets per key apart: one
   * person's phone, laptop, a few tabs and a virtual client fit in 8.
   */
  socketsPerKey: 8,
  /** Milliseconds a socket has to log in before it is closed (also the login nonce's lifetime). */
  authDeadlineMs: 10_000,
  /** Largest difference between a client's login time and the relay's clock. */
  maxClockSkewMs: 5 * 60_000,
  /** Lifetime of a session attestation. */
  sessionTtlMs: 12 * 60 * 60_000,
  /** Lifetime of a signaling token (admission to the signaling path only). */
  tokenTtlMs: 5 * 60_000,
  /** Channels joined plus signaling topics per socket. */
  subscriptionsPerSocket: 64,
  /** Bytes of a signaling topic (y-webrtc room name). */
  maxTopicBytes: 128,
  /** Channels the relay keeps in its soft channel list (created at run time plus configured). */
  maxChannels: 1024,
  /** Bytes buffered for a slow socket before it is closed with `slow_consumer`. */
  maxBackpressureBytes: 1024 * 1024,
  /** Seconds without any traffic before a socket is closed (uWS sends pings automatically). */
  idleTimeoutSeconds: 120,
  /** Malformed or refused frames a socket may send before it is closed. */
  maxErrorsPerSocket: 32,
  /** Entries of the idempotency cache of (author, clientNonce) -> stamp ... */
  idempotencyEntries: 100_000,
  /** ... and how long one entry is kept. */
  idempotencyTtlMs: 10 * 60_000,
  /** Bytes per second a session may send through the relay to another peer (WebRTC fallback) ... */
  forwardBytesPerSecond: 64 * 1024,
  /** ... and the burst: the whole budget of a short catch-up. */
  forwardBurstBytes: 4 * 1024 * 1024,
  /** Keys and addresses tracked by the rate limiters (least recently used are forgotten). */
  rateLimiterEntries: 100_000,
  /** A channel's stamps per relay checkpoint (0: no checkpoints; at most 4096) ... */
  checkpointEvery: 256,
  /** ... or fewer, once the channel has had no stamp for this long ... */
  checkpointIdleMs: 2_000,
  /** ... if at least this many are waiting (a quiet channel's window stays open). */
  checkpointMinEvents: 32,
  /**
   * Bytes of admin events the relay keeps (in memory, served to every joiner of `admin`, and in
   * admin.log); past it the relay stamps no admin event (`limit_exceeded`). ~250 bytes each:
   * 16 MiB is some 60,000 roles, bans and redeemed invites.
   */
  maxAdminLogBytes: 16 * 1024 * 1024,
  /** Admin requests waiting to be judged and stamped (one at a time, in id order). */
  adminRequestsPending: 64,
  /**
   * Stamps signed together, over their Merkle root (0 or 1: each alone; above 1024 counts as
   * 1024). The stamps of one event-loop turn share a signature, up to this many; each event then
   * carries a path of ceil(log2(batch)) hashes of 32 bytes (5 at most by default). A turn with one
   * stamp signs it alone, as 1 does. bench/stamps.ts measured the default.
   */
  stampBatchMax: 32,
  /**
   * Members of a channel's presence head: the first to join (in join order), whose attestations
   * every member holds and is told about as they change (docs/protocol/relay.md §5). Beyond it a
   * member costs the others only a count; at most 255 (one frame holds the head and the joiner).
   */
  presenceHead: 100,
  /**
   * Milliseconds between two PresenceTick frames of one channel: a change in a quiet channel goes
   * out at once, later ones wait for the first sweep (every 250 ms) this long after the last tick.
   */
  presenceTickMs: 200,
  /** PresenceQuery and PresenceFind frames per second per session (`rate_limited` beyond) ... */
  presenceQueriesPerSecond: 10,
  /** ... and the burst: a member list's first pages and a few admission lookups at once. */
  presenceQueryBurst: 40,
}

export type RelayLimits = typeof DEFAULT_LIMITS

export function resolveLimits(overrides: Partial<RelayLimits> = {}): RelayLimits {
  const limits = { ...DEFAULT_LIMITS }
  for (const [name, value] of Object.entries(overrides)) {
    if (!(name in DEFAULT_LIMITS)) throw new RangeError(`unknown limit ${name}`)
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0)
      throw new RangeError(`limit ${name} must be a non-negative number`)
    limits[name as keyof RelayLimits] = value
  }
  return limits
}
