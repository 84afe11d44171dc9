/**
 * Voice in the browser: the microphone, one RTCPeerConnection per other member of the room
 * (a small mesh), remote audio playback, and speaking meters (WebAudio analysers). Who calls
 * whom comes from `planVoice` (plan.ts); offers and answers travel signed in the awareness
 * (protocol.ts), never through the relay. ICE servers come from the relay's well-known JSON.
 */
import { randomBytes, toBase64url } from '@peerchat/engine'
import { micErrorMessage, nextSpeaking, rms } from './audio.ts'
import type { VoiceNetwork } from './network.ts'
import { type CallPhase, type CallView, planVoice, roomOf, type VoiceAction } from './plan.ts'
import {
  type Participant,
  readStates,
  STATE_REFRESH_MS,
  type StateHeader,
  signSignal,
  signState,
  VerifiedStates,
  verifySignal,
  type WireSignal,
} from './protocol.ts'

/** A call not connected after this long is hung up (default 20 s); its offerer calls again. */
export const CALL_TIMEOUT_MS = 20_000
/** How long an offerer waits before calling a peer again after a failed call (default 3 s). */
export const RETRY_AFTER_MS = 3_000
/** Longest wait for ICE candidates before an SDP is sent with those gathered so far (default 3 s). */
export const ICE_GATHER_MAX_MS = 3_000
/** Speaking meters are read this often (default 100 ms). */
export const METER_INTERVAL_MS = 100

export interface VoiceMember {
  key: string
  muted: boolean
  speaking: boolean
  /** `self` for this client; `waiting` before a call exists. */
  phase: CallPhase | 'self' | 'waiting'
}

export interface VoiceState {
  phase: 'idle' | 'joining' | 'joined'
  channel: string | null
  muted: boolean
  /** What went wrong last (the microphone, mostly), for the user. */
  error: string | null
  /** The room already holds VOICE_MAX_PEERS earlier joiners. */
  full: boolean
  devices: readonly { id: string; label: string }[]
  deviceId: string | null
  /** This client first, then the others of its room. */
  members: readonly VoiceMember[]
  /** Who is in each channel's voice (awareness hints checked against presence), me included. */
  rooms: ReadonlyMap<string, readonly string[]>
}

export interface VoiceEnv {
  mediaDevices: MediaDevices | undefined
  RTCPeerConnection: typeof RTCPeerConnection
  AudioContext: typeof AudioContext | undefined
  now(): number
}

export const browserEnv = (): VoiceEnv => ({
  mediaDevices: globalThis.navigator?.mediaDevices,
  RTCPeerConnection: globalThis.RTCPeerConnection,
  AudioContext: globalThis.AudioContext,
  now: Date.now,
})

interface Meter {
  source: MediaStreamAudioSourceNode
  analyser: AnalyserNode
  samples: Float32Array<ArrayBuffer>
  speaking: boolean
  loudAt: number
}

interface Call extends CallView {
  pc: RTCPeerConnection
  timer: ReturnType<typeof setTimeout>
  audio?: HTMLAudioElement
  meter?: Meter
}

const IDLE: VoiceState = {
  phase: 'idle',
  channel: null,
  muted: false,
  error: null,
  full: false,
  devices: [],
  deviceId: null,
  members: [],
  rooms: new Map(),
}

/** Call ids remembered as handled (offers answered, calls ended). */
const HANDLED_MAX = 256

export class VoiceSession {
  private st: VoiceState = IDLE
  private readonly listeners = new Set<(s: VoiceState) => void>()
  private readonly calls = new Map<string, Call>()
  /** The signal this client currently addresses to each peer (kept until that call connects). */
  private readonly outbox = new Map<string, WireSignal>()
  private readonly handled = new Set<string>()
  private readonly retryAt = new Map<string, number>()
  private participants = new Map<string, Participant>()
  private readonly verified = new VerifiedStates(() => this.onNetwork())
  /** This client's signed state, and the signing in progress. */
  private header: StateHeader | undefined
  private signing: Promise<StateHeader> | undefined
  private mic: MediaStream | undefined
  private micMeter: Meter | undefined
  private ctx: AudioContext | undefined
  private since = 0
  private queue: Promise<void> = Promise.resolve()
  private planQueued = false
  private meterTimer: ReturnType<typeof setInterval> | undefined
  private refreshTimer: ReturnType<typeof setInterval> | undefined
  private readonly offNet: () => void
  private readonly onDevices = (): void => void this.refreshDevices()
  private stopped = false

  constructor(
    private readonly net: VoiceNetwork,
    private readonly env: VoiceEnv = browserEnv(),
  ) {
    this.offNet = net.onChange(() => this.onNetwork())
    env.mediaDevices?.addEventListener?.('devicechange', this.onDevices)
    this.onNetwork()
  }

  get state(): VoiceState {
    return this.st
  }

  subscribe(listener: (s: VoiceState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Audio bytes received and sent per call in progress (RTP payload and headers, from getStats). */
  async audioStats(): Promise<{ key: string; phase: CallPhase; bytesIn: number; bytesOut: number }[]> {
    const out = []
    for (const [key, c] of this.calls) {
      let bytesIn = 0
      let bytesOut = 0
      const report = await c.pc.getStats()
      report.forEach((r: { type: string; kind?: string; bytesReceived?: number; bytesSent?: number }) => {
        if (r.kind !== 'audio') return
        if (r.type === 'inbound-rtp') bytesIn += r.bytesReceived ?? 0
        else if (r.type === 'outbound-rtp') bytesOut += r.bytesSent ?? 0
      })
      out.push({ key, phase: c.phase, bytesIn, bytesOut })
    }
    return out
  }

  async join(channel: string): Promise<void> {
    if (this.stopped || (this.st.channel === channel && this.st.phase !== 'idle')) return
    if (this.st.phase !== 'idle') this.leave()
    this.set({ phase: 'joining', channel, error: null })
    let mic: MediaStream
    try {
      mic = await this.openMic(this.st.deviceId)
    } catch (e) {
      if (this.st.channel === channel) this.set({ phase: 'idle', channel: null, error: micErrorMessage(e) })
      return
    }
    if (this.stopped || this.st.channel !== channel || this.st.phase !== 'joining') {
      for (const t of mic.getTracks()) t.stop()
      return
    }
    this.mic = mic
    if (this.env.AudioContext) {
      this.ctx = new this.env.AudioContext()
      void this.ctx.resume().catch(() => {})
    }
    this.micMeter = this.meter(mic)
    for (const t of mic.getAudioTracks()) t.enabled = !this.st.muted
    this.since = this.env.now()
    this.set({ phase: 'joined' })
    this.meterTimer = setInterval(() => this.readMeters(), METER_INTERVAL_MS)
    this.refreshTimer = setInterval(() => this.publish(), STATE_REFRESH_MS / 2)
    this.publish()
    this.onNetwork()
    await this.refreshDevices()
  }

  /** Call ids come from peers: remember a bounded number of them (the oldest are forgotten). */
  private markHandled(call: string): void {
    this.handled.add(call)
    if (this.handled.size > HANDLED_MAX) this.handled.delete(this.handled.values().next().value!)
  }

  leave(): void {
    for (const peer of [...this.calls.keys()]) this.hangup(peer)
    this.outbox.clear()
    this.handled.clear()
    this.retryAt.clear()
    for (const t of this.mic?.getTracks() ?? []) t.stop()
    this.mic = undefined
    this.micMeter = undefined
    clearInterval(this.meterTimer)
    clearInterval(this.refreshTimer)
    this.meterTimer = this.refreshTimer = undefined
    void this.ctx?.close().catch(() => {})
    this.ctx = undefined
    this.set({ phase: 'idle', channel: null, full: false })
    this.net.publish(null)
    this.onNetwork()
  }

  setMuted(muted: boolean): void {
    for (const t of this.mic?.getAudioTracks() ?? []) t.enabled = !muted
    this.set({ muted })
    this.publish()
    this.emitMembers()
  }

  dismissError(): void {
    this.set({ error: null })
  }

  /** Switches the microphone; calls in progress keep going with the new track. */
  async selectDevice(deviceId: string): Promise<void> {
    this.set({ deviceId, error: null })
    if (this.st.phase !== 'joined') return
    let mic: MediaStream
    try {
      mic = await this.openMic(deviceId)
    } catch (e) {
      this.set({ error: micErrorMessage(e) })
      return
    }
    if (this.st.phase !== 'joined') {
      for (const t of mic.getTracks()) t.stop()
      return
    }
    const track = mic.getAudioTracks()[0]
    if (track) track.enabled = !this.st.muted
    for (const call of this.calls.values())
      for (const sender of call.pc.getSenders())
        if (sender.track?.kind === 'audio') await sender.replaceTrack(track ?? null)
    for (const t of this.mic?.getTracks() ?? []) t.stop()
    this.mic = mic
    this.micMeter?.source.disconnect()
    this.micMeter = this.meter(mic)
  }

  /** Idempotent: leaves the room and drops every listener and timer. */
  stop(): void {
    if (this.stopped) return
    if (this.st.phase !== 'idle') this.leave()
    this.stopped = true
    this.offNet()
    this.env.mediaDevices?.removeEventListener?.('devicechange', this.onDevices)
    this.listeners.clear()
  }

  // ---- network ---------------------------------------------------------------------------

  private onNetwork(): void {
    if (this.stopped) return
    // Presence admits a key to the room; a connected call (its SDP signed by that key) keeps it
    // there while its awareness says so, so a relay restart or outage does not cut the audio.
    const states = readStates(this.net.states(), {
      self: this.net.self,
      now: this.env.now(),
      isMember: (key, channel) =>
        this.net.isMember(key, channel) ||
        (channel === this.st.channel && this.calls.get(key)?.phase === 'connected'),
    })
    this.participants = this.verified.filter(states)
    const rooms = new Map<string, string[]>()
    for (const p of this.participants.values()) rooms.set(p.channel, [...(rooms.get(p.channel) ?? []), p.key])
    if (this.st.phase === 'joined' && this.st.channel)
      rooms.set(this.st.channel, [this.net.self, ...(rooms.get(this.st.channel) ?? [])])
    this.set({ rooms })
    this.emitMembers()
    if (this.st.phase === 'joined') this.schedulePlan()
  }

  /** Publishes this client's state: the signed header (signed again when stale or changed) and its signals. */
  private publish(): void {
    const { phase, channel, muted } = this.st
    if (phase !== 'joined' || !channel) {
      this.header = this.signing = undefined
      this.net.publish(null)
      return
    }
    const h = this.header
    const now = this.env.now()
    if (
      h &&
      h.channel === channel &&
      h.muted === muted &&
      h.since === this.since &&
      now - h.ts < STATE_REFRESH_MS
    ) {
      this.net.publish({ ...h, signals: [...this.outbox.values()] })
      return
    }
    const signing = signState(this.net.signer, {
      v: 1,
      key: this.net.self,
      channel,
      muted,
      since: this.since,
      ts: now,
    })
    this.signing = signing
    signing.then(
      (header) => {
        if (this.signing !== signing) return // left, or a newer state is being signed
        this.header = header
        this.publish()
      },
      (e: unknown) => this.set({ error: `Voice: ${(e as Error).message}` }),
    )
  }

  private schedulePlan(): void {
    if (this.planQueued) return
    this.planQueued = true
    this.queue = this.queue
      .then(() => {
        this.planQueued = false
        return this.plan()
      })
      .catch((e: unknown) => {
        this.planQueued = false
        this.set({ error: `Voice: ${(e as Error).message}` })
      })
  }

  private async plan(): Promise<void> {
    const channel = this.st.channel
    if (this.stopped || this.st.phase !== 'joined' || !channel) return
    const now = this.env.now()
    const input = {
      self: this.net.self,
      since: this.since,
      channel,
      participants: this.participants,
      calls: this.calls,
      handled: (call: string) => this.handled.has(call),
      coolingDown: (peer: string) => (this.retryAt.get(peer) ?? 0) > now,
    }
    const { full } = roomOf(input.self, input.since, channel, this.participants)
    if (full !== this.st.full) this.set({ full })
    for (const action of planVoice(input)) {
      if (this.st.phase !== 'joined' || this.st.channel !== channel) return
      await this.run(channel, action)
    }
    this.emitMembers()
  }

  private async run(channel: string, a: VoiceAction): Promise<void> {
    switch (a.type) {
      case 'hangup':
        return this.hangup(a.peer)
      case 'call': {
        const call = toBase64url(randomBytes(12))
        const c = this.open(a.peer, call, 'offering', true)
        await c.pc.setLocalDescription(await c.pc.createOffer())
        return this.sendDescription(channel, a.peer, c, 'offer')
      }
      case 'answer': {
        this.markHandled(a.signal.call)
        if (!(await verifySignal(a.peer, channel, a.signal))) return
        const c = this.open(a.peer, a.signal.call, 'answering', false)
        await c.pc.setRemoteDescription({ type: 'offer', sdp: a.signal.sdp })
        await c.pc.setLocalDescription(await c.pc.createAnswer())
        return this.sendDescription(channel, a.peer, c, 'answer')
      }
      case 'accept': {
        this.markHandled(a.signal.call)
        const c = this.calls.get(a.peer)
        if (!c || c.call !== a.signal.call || !(await verifySignal(a.peer, channel, a.signal))) return
        await c.pc.setRemoteDescription({ type: 'answer', sdp: a.signal.sdp })
        if (c.phase === 'offering') c.phase = 'connecting'
        return
      }
    }
  }

  /** Sends this call's local description (after ICE gathering, no trickle) in the awareness. */
  private async sendDescription(
    channel: string,
    peer: string,
    c: Call,
    type: 'offer' | 'answer',
  ): Promise<void> {
    await iceGathered(c.pc, ICE_GATHER_MAX_MS)
    const sdp = c.pc.localDescription?.sdp
    if (this.calls.get(peer) !== c || !sdp) return
    const signal = await signSignal(this.net.signer, this.net.self, channel, {
      to: peer,
      call: c.call,
      type,
      sdp,
      ts: this.env.now(),
    })
    if (this.calls.get(peer) !== c) return
    if (type === 'answer' && c.phase === 'answering') c.phase = 'connecting'
    this.outbox.set(peer, signal)
    this.publish()
  }

  private open(peer: string, call: string, phase: CallPhase, outgoing: boolean): Call {
    const pc = new this.env.RTCPeerConnection({ iceServers: this.net.iceServers })
    const mic = this.mic
    for (const t of mic?.getAudioTracks() ?? []) pc.addTrack(t, mic!)
    const c: Call = {
      call,
      phase,
      outgoing,
      pc,
      timer: setTimeout(() => this.fail(peer, c), CALL_TIMEOUT_MS),
    }
    pc.ontrack = (e) => {
      if (this.calls.get(peer) !== c || c.audio) return
      const stream = e.streams[0] ?? new MediaStream([e.track])
      c.audio = new Audio()
      c.audio.autoplay = true
      c.audio.srcObject = stream
      void c.audio.play().catch(() => {})
      c.meter = this.meter(stream)
    }
    pc.onconnectionstatechange = () => {
      if (this.calls.get(peer) !== c) return
      if (pc.connectionState === 'connected') {
        clearTimeout(c.timer)
        c.phase = 'connected'
        // Both sides hold both descriptions now: the signal can leave the awareness.
        if (this.outbox.delete(peer)) this.publish()
        this.emitMembers()
      } else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        this.fail(peer, c)
      }
    }
    this.calls.set(peer, c)
    return c
  }

  private fail(peer: string, c: Call): void {
    if (this.calls.get(peer) !== c) return
    c.phase = 'failed'
    this.schedulePlan()
  }

  private hangup(peer: string): void {
    const c = this.calls.get(peer)
    if (!c) return
    this.calls.delete(peer)
    this.markHandled(c.call)
    if (c.phase === 'failed') this.retryAt.set(peer, this.env.now() + RETRY_AFTER_MS)
    clearTimeout(c.timer)
    c.pc.ontrack = null
    c.pc.onconnectionstatechange = null
    c.pc.close()
    c.meter?.source.disconnect()
    if (c.audio) {
      c.audio.pause()
      c.audio.srcObject = null
    }
    if (this.outbox.delete(peer)) this.publish()
  }

  // ---- devices and meters ----------------------------------------------------------------

  private openMic(deviceId: string | null): Promise<MediaStream> {
    const devices = this.env.mediaDevices
    if (!devices?.getUserMedia)
      return Promise.reject(Object.assign(new Error('no media devices'), { name: 'NoMediaDevices' }))
    const audio: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true }
    if (deviceId) audio.deviceId = { exact: deviceId }
    return devices.getUserMedia({ audio, video: false })
  }

  private async refreshDevices(): Promise<void> {
    try {
      const list = (await this.env.mediaDevices?.enumerateDevices()) ?? []
      const devices = list
        .filter((d) => d.kind === 'audioinput')
        .map((d, i) => ({ id: d.deviceId, label: d.label || `Microphone ${i + 1}` }))
      const inUse = this.mic?.getAudioTracks()[0]?.getSettings().deviceId ?? this.st.deviceId
      this.set({ devices, deviceId: inUse ?? null })
    } catch {
      // Device listing is a convenience: the default microphone still works.
    }
  }

  private meter(stream: MediaStream): Meter | undefined {
    if (!this.ctx || stream.getAudioTracks().length === 0) return undefined
    const source = this.ctx.createMediaStreamSource(stream)
    const analyser = this.ctx.createAnalyser()
    analyser.fftSize = 1024
    source.connect(analyser)
    return {
      source,
      analyser,
      samples: new Float32Array(analyser.fftSize),
      speaking: false,
      loudAt: -Infinity,
    }
  }

  private readMeters(): void {
    let changed = false
    const now = this.env.now()
    const read = (m: Meter | undefined, enabled: boolean): void => {
      if (!m) return
      m.analyser.getFloatTimeDomainData(m.samples)
      const next = nextSpeaking(enabled ? rms(m.samples) : 0, m, now)
      m.loudAt = next.loudAt
      if (next.speaking !== m.speaking) {
        m.speaking = next.speaking
        changed = true
      }
    }
    read(this.micMeter, !this.st.muted)
    for (const [peer, c] of this.calls) read(c.meter, !this.participants.get(peer)?.muted)
    if (changed) this.emitMembers()
  }

  private emitMembers(): void {
    const channel = this.st.channel
    if (this.st.phase !== 'joined' || !channel) {
      if (this.st.members.length > 0) this.set({ members: [] })
      return
    }
    const { members } = roomOf(this.net.self, this.since, channel, this.participants)
    const list: VoiceMember[] = [
      { key: this.net.self, muted: this.st.muted, speaking: this.micMeter?.speaking ?? false, phase: 'self' },
    ]
    for (const key of members) {
      if (key === this.net.self) continue
      const c = this.calls.get(key)
      list.push({
        key,
        muted: this.participants.get(key)?.muted ?? false,
        speaking: c?.meter?.speaking ?? false,
        phase: c?.phase ?? 'waiting',
      })
    }
    this.set({ members: list })
  }

  private set(patch: Partial<VoiceState>): void {
    this.st = { ...this.st, ...patch }
    for (const l of this.listeners) l(this.st)
  }
}

/** Resolves once ICE gathering is complete, or after `maxMs` with what was gathered. */
function iceGathered(pc: RTCPeerConnection, maxMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      pc.removeEventListener('icegatheringstatechange', check)
      resolve()
    }
    const check = (): void => {
      if (pc.iceGatheringState === 'complete') done()
    }
    const timer = setTimeout(done, maxMs)
    pc.addEventListener('icegatheringstatechange', check)
  })
}
