/**
 * The admin body codecs: round trips for every kind (property), known-answer bytes (the
 * examples of docs/protocol/admin.md), every limit exceeded on both sides (encode: RangeError,
 * decode: DecodeError), and arbitrary or mutated bytes never escaping as anything but
 * DecodeError. Also the invite id derivation.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromHex, toHex } from '../src/bytes.ts'
import { type AdminAction, AdminLimits, decodeAdminBody, encodeAdminBody } from '../src/chat/admin/bodies.ts'
import { INVITE_SECRET_BYTES, inviteIdOf, newInviteSecret } from '../src/chat/admin/invite-id.ts'
import { AdminKind } from '../src/chat/admin/kinds.ts'
import { ALL_PERMISSIONS } from '../src/chat/admin/permissions.ts'
import { createWriter, finish, writeBytes, writeU8, writeVarString, writeVarUint } from '../src/codec.ts'
import { DecodeError } from '../src/errors.ts'
import { between } from '../src/kit/position.ts'
import { MAX_TIME } from '../src/ulid.ts'

const key = fc.uint8Array({ minLength: 32, maxLength: 32 })
const inviteId = fc.uint8Array({ minLength: 16, maxLength: 16 })
const time = fc.integer({ min: 0, max: MAX_TIME })
const roleName = fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/)
const builtin = fc.constantFrom('owner', 'admin', 'moderator', 'member' as const)
const utf8Len = (s: string) => new TextEncoder().encode(s).length
const text = (max: number) => fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => utf8Len(s) <= max)
const channel = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
const position = fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 10 })).map(([r, n]) => {
  let p = between(undefined, undefined, { random: () => r / 1000 })
  for (let i = 0; i < n; i++) p = between(p, undefined, { random: () => r / 1000 })
  return p
})

const actionArb: fc.Arbitrary<AdminAction> = fc.oneof(
  fc.constant({ kind: AdminKind.claim, body: {} }),
  fc.record({ kind: fc.constant(AdminKind.roleSet), body: fc.record({ target: key, role: roleName }) }),
  fc.record({
    kind: fc.constant(AdminKind.roleDefine),
    body: fc.record({ name: roleName, permissions: fc.integer({ min: 0, max: ALL_PERMISSIONS }) }),
  }),
  fc.record({
    kind: fc.constant(AdminKind.channelUpdate),
    body: fc
      .record(
        {
          channel,
          name: text(AdminLimits.channelName).filter((s) => s.length > 0),
          topic: text(AdminLimits.topic),
          position,
          archived: fc.boolean(),
          postRole: builtin,
          editRole: fc.oneof(builtin, fc.constant(null)),
        },
        { requiredKeys: ['channel'] },
      )
      .filter((b) => Object.keys(b).length > 1),
  }),
  fc.record({
    kind: fc.constant(AdminKind.memberKick),
    body: fc.record({ target: key, reason: text(AdminLimits.reason) }),
  }),
  fc.record({
    kind: fc.constant(AdminKind.memberBan),
    body: fc.record(
      { target: key, reason: text(AdminLimits.reason), until: time },
      { requiredKeys: ['target', 'reason'] },
    ),
  }),
  fc.record({ kind: fc.constant(AdminKind.memberUnban), body: fc.record({ target: key }) }),
  fc.record({ kind: fc.constant(AdminKind.memberTimeout), body: fc.record({ target: key, until: time }) }),
  fc.record({
    kind: fc.constant(AdminKind.inviteCreate),
    body: fc.record({
      id: inviteId,
      expiresAt: time,
      uses: fc.integer({ min: 1, max: AdminLimits.inviteUses }),
    }),
  }),
  fc.record({ kind: fc.constant(AdminKind.inviteRevoke), body: fc.record({ id: inviteId }) }),
  fc.record({ kind: fc.constant(AdminKind.inviteRedeem), body: fc.record({ id: inviteId }) }),
  fc.record({
    kind: fc.constant(AdminKind.accessSet),
    body: fc.record({ access: fc.constantFrom('open', 'invite' as const) }),
  }),
) as fc.Arbitrary<AdminAction>

const KINDS = Object.values(AdminKind)
const K = new Uint8Array(32).fill(0xab)
const ID = new Uint8Array(16).fill(0x11)

/** Decoding must fail with a DecodeError (never another error, never a value). */
function refuses(kind: string, bytes: Uint8Array, message?: RegExp): void {
  let thrown: unknown
  try {
    decodeAdminBody(kind, bytes)
  } catch (e) {
    thrown = e
  }
  expect(thrown).toBeInstanceOf(DecodeError)
  if (message) expect((thrown as Error).message).toMatch(message)
}

/** A body written by hand, bypassing the encoder's checks. */
function raw(write: (w: ReturnType<typeof createWriter>) => void): Uint8Array {
  const w = createWriter()
  writeU8(w, 1)
  write(w)
  return finish(w)
}

describe('admin bodies: round trip (property)', () => {
  it('decode(encode(a)) = a for every kind, and one value has one encoding', () => {
    fc.assert(
      fc.property(actionArb, (a) => {
        const bytes = encodeAdminBody(a)
        const back = decodeAdminBody(a.kind, bytes)
        expect(back).toEqual(a)
        expect(encodeAdminBody(back!)).toEqual(bytes)
      }),
      { numRuns: 2000 },
    )
  })

  it('a body of one kind read as another kind is refused or is a different value, never a crash', () => {
    fc.assert(
      fc.property(actionArb, fc.constantFrom(...KINDS), (a, other) => {
        const bytes = encodeAdminBody(a)
        try {
          decodeAdminBody(other, bytes)
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('returns undefined for a kind that is not an admin kind', () => {
    expect(decodeAdminBody('message', new Uint8Array([1]))).toBeUndefined()
    expect(decodeAdminBody('admin.claimx', new Uint8Array([1]))).toBeUndefined()
  })
})

describe('admin bodies: hostile bytes (property)', () => {
  it('random bytes under any admin kind: a value or a DecodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), fc.uint8Array({ maxLength: 200 }), (kind, bytes) => {
        try {
          decodeAdminBody(kind, bytes)
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 5000 },
    )
  })

  it('valid bodies with a byte flipped, cut short or extended: a value or a DecodeError', () => {
    fc.assert(
      fc.property(actionArb, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat(3), (a, at, xor, how) => {
        const bytes = encodeAdminBody(a)
        let mutated: Uint8Array
        if (how === 0) {
          mutated = bytes.slice()
          mutated[at % bytes.length]! ^= xor
        } else if (how === 1) mutated = bytes.slice(0, at % bytes.length)
        else mutated = new Uint8Array([...bytes, xor])
        try {
          decodeAdminBody(a.kind, mutated)
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError)
        }
        if (how === 2) refuses(a.kind, mutated, /trailing/)
      }),
      { numRuns: 3000 },
    )
  })

  it('non-bytes input is a DecodeError', () => {
    refuses(AdminKind.claim, 'x' as unknown as Uint8Array)
  })
})

describe('admin bodies: known answers (docs/protocol/admin.md)', () => {
  it('admin.claim is the version byte alone', () => {
    expect(toHex(encodeAdminBody({ kind: AdminKind.claim, body: {} }))).toBe('01')
  })

  it('role.set', () => {
    const body = encodeAdminBody({ kind: AdminKind.roleSet, body: { target: K, role: 'moderator' } })
    expect(toHex(body)).toBe(`01${'ab'.repeat(32)}096d6f64657261746f72`)
  })

  it('member.ban with an end', () => {
    const body = encodeAdminBody({
      kind: AdminKind.memberBan,
      body: { target: K, reason: 'spam', until: 1_750_000_000_000 },
    })
    expect(toHex(body)).toBe(`01${'ab'.repeat(32)}047370616d0180b883a1f732`)
  })

  it('channel.update with a topic and postRole', () => {
    const body = encodeAdminBody({
      kind: AdminKind.channelUpdate,
      body: { channel: 'news', topic: 'hi', postRole: 'moderator' },
    })
    expect(toHex(body)).toBe('01046e65777312026869096d6f64657261746f72')
  })

  it('channel.update with an editRole, and with editRole null (follow postRole again)', () => {
    const set = encodeAdminBody({
      kind: AdminKind.channelUpdate,
      body: { channel: 'notes', editRole: 'moderator' },
    })
    expect(toHex(set)).toBe('01056e6f74657320096d6f64657261746f72')
    const cleared = encodeAdminBody({
      kind: AdminKind.channelUpdate,
      body: { channel: 'notes', editRole: null },
    })
    expect(toHex(cleared)).toBe('01056e6f746573' + '20' + '00')
    expect(decodeAdminBody(AdminKind.channelUpdate, set)).toEqual({
      kind: AdminKind.channelUpdate,
      body: { channel: 'notes', editRole: 'moderator' },
    })
    expect(decodeAdminBody(AdminKind.channelUpdate, cleared)).toEqual({
      kind: AdminKind.channelUpdate,
      body: { channel: 'notes', editRole: null },
    })
  })

  it('invite.create', () => {
    const body = encodeAdminBody({
      kind: AdminKind.inviteCreate,
      body: { id: ID, expiresAt: 1_750_000_000_000, uses: 300 },
    })
    expect(toHex(body)).toBe(`01${'11'.repeat(16)}80b883a1f732ac02`)
  })

  it('access.set', () => {
    expect(toHex(encodeAdminBody({ kind: AdminKind.accessSet, body: { access: 'open' } }))).toBe('0101')
    expect(toHex(encodeAdminBody({ kind: AdminKind.accessSet, body: { access: 'invite' } }))).toBe('0100')
  })
})

describe('admin bodies: every limit, both sides', () => {
  const roleSet = (role: string): AdminAction => ({ kind: AdminKind.roleSet, body: { target: K, role } })

  it('version byte', () => {
    refuses(AdminKind.claim, new Uint8Array([2]), /unsupported admin.claim version 2/)
    refuses(AdminKind.claim, new Uint8Array([]), /truncated/)
  })

  it('keys are 32 bytes, invite ids 16', () => {
    expect(() =>
      encodeAdminBody({ kind: AdminKind.memberUnban, body: { target: new Uint8Array(31) } }),
    ).toThrow(RangeError)
    expect(() => encodeAdminBody({ kind: AdminKind.inviteRevoke, body: { id: new Uint8Array(15) } })).toThrow(
      RangeError,
    )
    refuses(
      AdminKind.memberUnban,
      raw((w) => writeBytes(w, new Uint8Array(31))),
      /truncated target/,
    )
    refuses(
      AdminKind.inviteRedeem,
      raw((w) => writeBytes(w, new Uint8Array(15))),
      /truncated invite id/,
    )
  })

  it('role names: [a-z][a-z0-9-]{0,31}', () => {
    expect(decodeAdminBody(AdminKind.roleSet, encodeAdminBody(roleSet(`a${'b'.repeat(31)}`)))).toBeTruthy()
    for (const bad of [`a${'b'.repeat(32)}`, 'Admin', '1st', '', 'a b', 'é'])
      expect(() => encodeAdminBody(roleSet(bad)), bad).toThrow(RangeError)
    refuses(
      AdminKind.roleSet,
      raw((w) => {
        writeBytes(w, K)
        writeVarString(w, `a${'b'.repeat(32)}`)
      }),
      /role/,
    )
    refuses(
      AdminKind.roleSet,
      raw((w) => {
        writeBytes(w, K)
        writeVarString(w, 'Admin')
      }),
      /invalid role/,
    )
  })

  it('permission bits', () => {
    const define = (permissions: number): AdminAction => ({
      kind: AdminKind.roleDefine,
      body: { name: 'helper', permissions },
    })
    expect(() => encodeAdminBody(define(0x80))).toThrow(RangeError)
    expect(() => encodeAdminBody(define(-1))).toThrow(RangeError)
    expect(() => encodeAdminBody(define(1.5))).toThrow(RangeError)
    refuses(
      AdminKind.roleDefine,
      raw((w) => {
        writeVarString(w, 'helper')
        writeU8(w, 0x80)
      }),
      /unknown permission bits/,
    )
  })

  it('reasons: 512 UTF-8 bytes', () => {
    const kick = (reason: string): AdminAction => ({
      kind: AdminKind.memberKick,
      body: { target: K, reason },
    })
    expect(encodeAdminBody(kick('x'.repeat(AdminLimits.reason)))).toBeTruthy()
    expect(() => encodeAdminBody(kick('x'.repeat(AdminLimits.reason + 1)))).toThrow(RangeError)
    expect(() => encodeAdminBody(kick('é'.repeat(257)))).toThrow(RangeError)
    refuses(
      AdminKind.memberKick,
      raw((w) => {
        writeBytes(w, K)
        writeVarString(w, 'x'.repeat(AdminLimits.reason + 1))
      }),
      /exceeds limit 512/,
    )
  })

  it('times: ms within the ULID range', () => {
    const timeout = (until: number): AdminAction => ({
      kind: AdminKind.memberTimeout,
      body: { target: K, until },
    })
    expect(encodeAdminBody(timeout(MAX_TIME))).toBeTruthy()
    for (const bad of [MAX_TIME + 1, -1, 1.5, Number.NaN])
      expect(() => encodeAdminBody(timeout(bad))).toThrow(RangeError)
    refuses(
      AdminKind.memberTimeout,
      raw((w) => {
        writeBytes(w, K)
        writeVarUint(w, MAX_TIME + 1)
      }),
      /until .* exceeds limit/,
    )
  })

  it('ban flags: only bit 0', () => {
    refuses(
      AdminKind.memberBan,
      raw((w) => {
        writeBytes(w, K)
        writeVarString(w, 'r')
        writeU8(w, 2)
      }),
      /unknown member.ban flags 2/,
    )
  })

  it('invite uses: 1..1000', () => {
    const create = (uses: number): AdminAction => ({
      kind: AdminKind.inviteCreate,
      body: { id: ID, expiresAt: 1, uses },
    })
    expect(encodeAdminBody(create(AdminLimits.inviteUses))).toBeTruthy()
    expect(() => encodeAdminBody(create(0))).toThrow(RangeError)
    expect(() => encodeAdminBody(create(AdminLimits.inviteUses + 1))).toThrow(RangeError)
    const rawCreate = (uses: number) =>
      raw((w) => {
        writeBytes(w, ID)
        writeVarUint(w, 1)
        writeVarUint(w, uses)
      })
    refuses(AdminKind.inviteCreate, rawCreate(0), /uses must not be 0/)
    refuses(AdminKind.inviteCreate, rawCreate(AdminLimits.inviteUses + 1), /uses 1001 exceeds limit 1000/)
  })

  it('access: 0 or 1', () => {
    refuses(AdminKind.accessSet, new Uint8Array([1, 2]), /unknown access 2/)
    expect(() =>
      encodeAdminBody({ kind: AdminKind.accessSet, body: { access: 'closed' as 'open' } }),
    ).toThrow(RangeError)
  })

  describe('channel.update', () => {
    const update = (body: Record<string, unknown>): AdminAction =>
      ({ kind: AdminKind.channelUpdate, body: { channel: 'general', ...body } }) as AdminAction
    const rawUpdate = (flags: number, write: (w: ReturnType<typeof createWriter>) => void = () => {}) =>
      raw((w) => {
        writeVarString(w, 'general')
        writeU8(w, flags)
        write(w)
      })

    it('must change something', () => {
      expect(() => encodeAdminBody(update({}))).toThrow(/changes nothing/)
      refuses(AdminKind.channelUpdate, rawUpdate(0), /changes nothing/)
    })

    it('channel names follow the event grammar', () => {
      expect(() => encodeAdminBody(update({ channel: '-x', topic: '' }))).toThrow(RangeError)
      refuses(
        AdminKind.channelUpdate,
        raw((w) => {
          writeVarString(w, '-x')
          writeU8(w, 2)
          writeVarString(w, '')
        }),
        /invalid channel/,
      )
    })

    it('display name: non-empty, 64 bytes', () => {
      expect(encodeAdminBody(update({ name: 'n'.repeat(AdminLimits.channelName) }))).toBeTruthy()
      expect(() => encodeAdminBody(update({ name: 'n'.repeat(AdminLimits.channelName + 1) }))).toThrow(
        RangeError,
      )
      expect(() => encodeAdminBody(update({ name: '' }))).toThrow(RangeError)
      refuses(
        AdminKind.channelUpdate,
        rawUpdate(1, (w) => writeVarString(w, '')),
        /empty channel name/,
      )
      refuses(
        AdminKind.channelUpdate,
        rawUpdate(1, (w) => writeVarString(w, 'n'.repeat(AdminLimits.channelName + 1))),
        /exceeds limit 64/,
      )
    })

    it('topic: 1024 bytes', () => {
      expect(encodeAdminBody(update({ topic: 't'.repeat(AdminLimits.topic) }))).toBeTruthy()
      expect(() => encodeAdminBody(update({ topic: 't'.repeat(AdminLimits.topic + 1) }))).toThrow(RangeError)
      refuses(
        AdminKind.channelUpdate,
        rawUpdate(2, (w) => writeVarString(w, 't'.repeat(AdminLimits.topic + 1))),
        /exceeds limit 1024/,
      )
    })

    it('position: a kit position of at most 128 characters', () => {
      const long = `a0${'V'.repeat(AdminLimits.position - 2)}`
      expect(encodeAdminBody(update({ position: long }))).toBeTruthy()
      expect(() => encodeAdminBody(update({ position: `${long}V` }))).toThrow(RangeError)
      expect(() => encodeAdminBody(update({ position: 'a00' }))).toThrow(RangeError) // fraction ends in 0
      refuses(
        AdminKind.channelUpdate,
        rawUpdate(4, (w) => writeVarString(w, 'a00')),
        /invalid channel position/,
      )
      refuses(
        AdminKind.channelUpdate,
        rawUpdate(4, (w) => writeVarString(w, `${long}V`)),
        /exceeds limit 128/,
      )
    })

    it('archived: 0 or 1; postRole: a built-in role; no unknown flags', () => {
      refuses(
        AdminKind.channelUpdate,
        rawUpdate(8, (w) => writeU8(w, 2)),
        /archived must be 0 or 1/,
      )
      expect(() => encodeAdminBody(update({ postRole: 'vip' }))).toThrow(RangeError)
      refuses(
        AdminKind.channelUpdate,
        rawUpdate(16, (w) => writeVarString(w, 'vip')),
        /built-in role/,
      )
      refuses(AdminKind.channelUpdate, rawUpdate(64), /unknown channel.update flags 64/)
    })

    it('editRole: a built-in role (or null, as the empty string), checked as postRole is', () => {
      for (const role of ['owner', 'admin', 'moderator', 'member'] as const) {
        const bytes = encodeAdminBody(update({ editRole: role }))
        expect(decodeAdminBody(AdminKind.channelUpdate, bytes)?.body).toEqual({
          channel: 'general',
          editRole: role,
        })
      }
      // With every other field, in flag order: editRole last.
      const all = update({
        name: 'G',
        topic: 't',
        position: 'a0',
        archived: true,
        postRole: 'moderator',
        editRole: 'admin',
      })
      expect(decodeAdminBody(AdminKind.channelUpdate, encodeAdminBody(all))).toEqual(all)
      expect(() => encodeAdminBody(update({ editRole: 'vip' }))).toThrow(RangeError)
      expect(() => encodeAdminBody(update({ editRole: '' }))).toThrow(RangeError)
      refuses(
        AdminKind.channelUpdate,
        rawUpdate(32, (w) => writeVarString(w, 'vip')),
        /editRole must be a built-in role/,
      )
      refuses(
        AdminKind.channelUpdate,
        rawUpdate(32, (w) => writeVarString(w, 'Admin')),
        /invalid editRole/,
      )
      refuses(
        AdminKind.channelUpdate,
        rawUpdate(32, (w) => writeVarString(w, 'r'.repeat(33))),
        /exceeds limit 32/,
      )
      refuses(AdminKind.channelUpdate, rawUpdate(32), /truncated editRole/)
    })
  })
})

describe('inviteIdOf', () => {
  it('is the first 16 bytes of SHA-256 over the domain tag and the secret', () => {
    const secret = new Uint8Array(INVITE_SECRET_BYTES).fill(7)
    const tag = new TextEncoder().encode('peerchat/1/invite-id\0')
    const expected = sha256(new Uint8Array([...tag, ...secret])).slice(0, 16)
    expect(inviteIdOf(secret)).toEqual(expected)
    expect(toHex(inviteIdOf(secret))).toBe(toHex(expected))
    // Domain-separated: not the plain hash of the secret.
    expect(inviteIdOf(secret)).not.toEqual(sha256(secret).slice(0, 16))
  })

  it('a known answer', () => {
    expect(toHex(inviteIdOf(fromHex('07'.repeat(32))))).toBe('92820f53b53a11bd52bdd86b9c19b570')
  })

  it('differs for secrets one bit apart, and refuses a secret of the wrong size', () => {
    const a = newInviteSecret()
    const b = a.slice()
    b[0]! ^= 1
    expect(inviteIdOf(a)).not.toEqual(inviteIdOf(b))
    expect(() => inviteIdOf(new Uint8Array(31))).toThrow(RangeError)
    expect(() => inviteIdOf('secret' as unknown as Uint8Array)).toThrow(TypeError)
  })
})
