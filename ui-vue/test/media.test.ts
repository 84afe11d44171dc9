import {
  type PublicKey,
  type SignedRequest,
  type StampedEvent,
  toHex,
  type Ulid,
  ulidFromBytes,
} from '@peerchat/engine'
import { type BlobExchange, describeBlob } from '@peerchat/engine/blobs'
import { encodeAttachment, encodeReaction, encodeRedact, Kind } from '@peerchat/engine/chat'
import { describe, expect, it } from 'vitest'
import { attachmentInfo, isInlineImage, MAX_ATTACHMENT_BYTES, refuseFile } from '../src/client/attachments.ts'
import { ChannelTimeline } from '../src/client/channel-view.ts'
import { RealMedia } from '../src/client/media.ts'

const key = (n: number): PublicKey => new Uint8Array(32).fill(n)
const ME = key(1)
const ANN = key(2)

function idAt(seq: number): Ulid {
  const b = new Uint8Array(16)
  let x = 1_700_000_000_000 + seq * 1000
  for (let i = 5; i >= 0; i--) {
    b[i] = x % 256
    x = Math.floor(x / 256)
  }
  b[15] = seq
  return ulidFromBytes(b)
}

function event(seq: number, author: PublicKey, kind: string, body: Uint8Array): StampedEvent {
  const clientNonce = new Uint8Array(16)
  clientNonce[0] = seq
  return {
    id: idAt(seq),
    ts: 1_700_000_000_000 + seq * 1000,
    channel: 'general',
    kind,
    author,
    clientNonce,
    body,
    authorSig: new Uint8Array(64),
    relaySig: new Uint8Array(64),
  }
}

const bytes = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff)
const described = describeBlob(bytes)
const body = (mime: string, extra: object = {}) =>
  encodeAttachment({
    digest: described.digest,
    size: described.size,
    chunkRoot: described.chunkRoot,
    mime,
    name: 'photo.png',
    ...extra,
  })

describe('attachments in the UI', () => {
  it('shows raster images inline; SVG, HTML and other files as file cards', () => {
    for (const m of ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'IMAGE/PNG; x=1'])
      expect(isInlineImage(m)).toBe(true)
    for (const m of ['image/svg+xml', 'text/html', 'application/pdf', 'application/octet-stream'])
      expect(isInlineImage(m)).toBe(false)
  })

  it('keeps a thumbnail only in a raster format', () => {
    const thumb = (mime: string) => ({ mime, bytes: new Uint8Array([1, 2, 3]) })
    const a = attachmentInfo({
      digest: described.digest,
      size: 1,
      chunkRoot: described.chunkRoot,
      mime: 'image/png',
      name: 'a.png',
      thumbnail: thumb('image/webp'),
    })
    expect(a.thumbnail?.mime).toBe('image/webp')
    expect(a.id).toBe(toHex(described.digest))
    const b = attachmentInfo({ ...a, thumbnail: thumb('image/svg+xml') })
    expect(b.thumbnail).toBeUndefined()
  })

  it('refuses empty files and files over 25 MiB with a clear reason', () => {
    expect(refuseFile('a.bin', 10)).toBeNull()
    expect(refuseFile('a.bin', MAX_ATTACHMENT_BYTES)).toBeNull()
    expect(refuseFile('big.mov', MAX_ATTACHMENT_BYTES + 1)).toMatch(
      /big\.mov is too large to share \(25\.0 MB\): files are limited to 25 MB/,
    )
    expect(refuseFile('e.txt', 0)).toMatch(/empty/)
  })
})

describe('ChannelTimeline with attachments', () => {
  it('shows an attachment as a message that takes reactions and deletion', () => {
    const view = new ChannelTimeline('general', ME)
    const shared = event(1, ANN, Kind.attachment, body('image/png', { width: 800, height: 600 }))
    view.apply([shared])
    const [row] = view.messages()
    expect(row).toMatchObject({
      id: shared.id,
      text: '',
      attachment: { name: 'photo.png', width: 800, inline: true },
    })
    view.apply([event(2, ME, Kind.reaction, encodeReaction({ target: shared.id, emoji: '👍', on: true }))])
    expect(view.get(shared.id)?.reactions).toEqual([{ emoji: '👍', count: 1, mine: true }])
    view.apply([event(3, ANN, Kind.redact, encodeRedact({ target: shared.id }))])
    expect(view.get(shared.id)).toMatchObject({ redacted: true, attachment: null })
  })

  it('shows my attachment as pending until its stamp arrives', () => {
    const view = new ChannelTimeline('general', ME)
    const stamped = event(4, ME, Kind.attachment, body('image/svg+xml'))
    const request = { ...stamped } as unknown as SignedRequest
    view.addPending(request)
    expect(view.messages()[0]).toMatchObject({ pending: true, attachment: { inline: false } })
    view.apply([stamped])
    expect(view.messages()).toHaveLength(1)
    expect(view.messages()[0]).toMatchObject({ pending: false, id: stamped.id })
  })

  it('ignores a malformed attachment body', () => {
    const view = new ChannelTimeline('general', ME)
    view.apply([event(5, ANN, Kind.attachment, new Uint8Array([1, 2, 3]))])
    expect(view.messages()).toHaveLength(0)
    expect(view.rejected).toBe(1)
  })
})

describe('RealMedia.fetch', () => {
  const info = attachmentInfo({
    digest: described.digest,
    size: described.size,
    chunkRoot: described.chunkRoot,
    mime: 'image/png',
    name: 'p.png',
  })
  const media = (fetched: Uint8Array) =>
    new RealMedia({
      exchange: {
        fetch: async () => fetched,
        progress: () => undefined,
        holds: () => true,
      } as unknown as BlobExchange,
      connected: () => 0,
      publish: async () => {
        throw new Error('unused')
      },
    })

  it('returns what the exchange fetched (the exchange checks it against the stamp: engine/test/blobs.exchange.test.ts)', async () => {
    expect(await media(bytes).fetch(info)).toEqual(bytes)
  })
})
