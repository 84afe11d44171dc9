/**
 * Issue #16: the MLS layer (`@peerchat/engine/mls`, ts-mls, suite 1: X25519, AES-128-GCM,
 * SHA-256, Ed25519) against "pairwise" encryption, the scheme it replaces, in the same run.
 *
 *   messages    one member encrypts (MLS signs) a 100-byte chat body, another decrypts (and
 *               verifies) it, in groups of 2 and of every N in SIZES: messages/s and bytes on
 *               the wire. Pairwise: the same body sealed to each other member separately
 *               (a fresh X25519 key + ECDH + HKDF-SHA256 + AES-128-GCM per recipient, one
 *               Ed25519 signature over the lot; node:crypto, synchronous, the fastest Node has);
 *               its receiver verifies the signature and opens its own slot.
 *   membership  at each N: a commit adding one member to a group of N-1 (time, bytes, the
 *               Welcome's bytes, the joiner's join time, a member's time to process it) and a
 *               commit removing one member at N. Pairwise baseline for the removal: a re-key,
 *               a fresh 16-byte group key sealed as above to the N-2 members left besides the
 *               remover (what a sender-key scheme sends when someone leaves).
 *
 * The group of N-1 is built by its creator in commits of BATCH adds (one giant commit would be
 * O(N²)); only the creator and one member (who joins by the last batch's Welcome) keep state, the
 * other leaves are people whose key packages were added. A first add makes N (messages are
 * measured then); its joiner is reported apart, as adds carry no UpdatePath and the tree has no
 * parent node yet. Then REPS times: remove the person in the middle of the tree (N-1; a remove
 * carries a path, which sets parent nodes), add a new one (N; it fills the blank leaf).
 *
 *   pnpm bench:mls            (SIZES=10,100,1000 ROUND_SECONDS=0.5 REPS=3 BATCH=50)
 */
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto'
import { loadavg } from 'node:os'
import { Identity } from '@peerchat/engine'
import {
  type MembershipChange,
  MlsDevice,
  type MlsEvent,
  MlsGroup,
  MlsKind,
  readKeyPackage,
} from '@peerchat/engine/mls'
import { useNodeCrypto } from '@peerchat/engine/node'
import { fixtureUlid } from '@peerchat/engine/testing'
import { median } from './cli.ts'

const SIZES = (process.env.SIZES ?? '10,100,1000').split(',').map(Number)
/** Messages are also measured in a group of two (one sender, one reader). */
const MESSAGE_SIZES = [...new Set([2, ...SIZES])].sort((a, b) => a - b)
const ROUND_SECONDS = Number(process.env.ROUND_SECONDS ?? 0.5)
/** Rounds interleave MLS and pairwise, so load from elsewhere hits both alike; figures are medians. */
const ROUNDS = 5
/** A slow case (pairwise at 1,000) still gets this many operations per round. */
const MIN_OPS = 3
const REPS = Number(process.env.REPS ?? 3)
const BATCH = Number(process.env.BATCH ?? 50)
const BODY = randomBytes(100)
const GROUP_KEY_BYTES = 16

type KeyPackage = MembershipChange['add'][number]

// ---- people and the log -------------------------------------------------------------------

/** A peerchat user with one MLS device. */
interface Person {
  id: Identity
  device: MlsDevice
}

async function person(): Promise<Person> {
  const id = await Identity.generate()
  return { id, device: await MlsDevice.create(id) }
}

/** A fresh key package of `p`, as an adder reads it from the log (checked against its author). */
async function keyPackageOf(p: Person): Promise<KeyPackage> {
  return readKeyPackage(await p.device.keyPackage(), p.id.publicKey)
}

let eventCount = 0
/** An event as the relay's log would hand it over (increasing ids). */
function logged(author: Person, kind: string, body: Uint8Array): MlsEvent {
  eventCount++
  return {
    id: fixtureUlid(1_800_000_000_000 + eventCount, eventCount),
    kind,
    author: author.id.publicKey,
    body,
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now()
  const value = await fn()
  return { value, ms: performance.now() - start }
}

/** Fails loudly: a benchmark that silently measured refusals would be worse than none. */
function expectType<T extends { type: string }>(r: T, type: string, what: string): void {
  if (r.type !== type) throw new Error(`${what}: expected ${type}, got ${JSON.stringify(r)}`)
}

// ---- the MLS group ------------------------------------------------------------------------

interface Commit {
  commitBytes: number
  welcomeBytes: number
  /** The creator's `commit` call. */
  commitMs: number
  /** The creator taking its own commit back from the log (ts-mls's pending state adopted). */
  adoptMs: number
  /** The member with state processing the commit. */
  processMs: number
  /** The added person joining from the Welcome. */
  joinMs: number
}

/** A group whose creator makes every commit and whose `member` keeps state to process them. */
class Testbed {
  private constructor(
    readonly creator: Person,
    readonly owner: MlsGroup,
    readonly member: MlsGroup,
    /** People in the group without state (leaves only), in the order they were added. */
    private readonly leaves: Person[],
  ) {}

  get size(): number {
    return this.owner.members().length
  }

  /** A group of `size` (>= 2) people: everyone but the last in batches, the member last. */
  static async build(size: number, progress: (done: number) => void): Promise<Testbed> {
    const creator = await person()
    const owner = await MlsGroup.create(creator.device, new TextEncoder().encode(`bench-${size}`))
    const leaves: Person[] = []
    while (leaves.length < size - 2) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(BATCH, size - 2 - leaves.length) }, () => person()),
      )
      await commitAndAdopt(creator, owner, { add: await Promise.all(batch.map(keyPackageOf)), remove: [] })
      leaves.push(...batch)
      progress(leaves.length + 1)
    }
    const memberPerson = await person()
    const made = await commitAndAdopt(creator, owner, { add: [await keyPackageOf(memberPerson)], remove: [] })
    const member = await MlsGroup.join(memberPerson.device, made.welcome!)
    if (!member) throw new Error('the member could not join')
    return new Testbed(creator, owner, member, leaves)
  }

  /** Adds one new person (the group grows by one). */
  async add(): Promise<Commit> {
    const joiner = await person()
    const change = { add: [await keyPackageOf(joiner)], remove: [] }
    const c = await this.commit(change)
    const joined = await timed(() => MlsGroup.join(joiner.device, c.welcome!))
    if (!joined.value) throw new Error('the joiner could not join')
    this.leaves.push(joiner)
    return { ...c.stats, joinMs: joined.ms }
  }

  /** Removes the stateless person in the middle of the tree (a blank leaf mid-tree, as in life). */
  async remove(): Promise<Commit> {
    const [gone] = this.leaves.splice(this.leaves.length >> 1, 1)
    if (!gone) throw new Error('nobody left to remove')
    return (await this.commit({ add: [], remove: [gone.id.publicKey] })).stats
  }

  private async commit(change: MembershipChange): Promise<{ welcome?: Uint8Array; stats: Commit }> {
    const made = await timed(() => this.owner.commit(change))
    if (!made.value) throw new Error('nothing to commit')
    const e = logged(this.creator, MlsKind.commit, made.value.commit)
    const adopt = await timed(() => this.owner.receive(e))
    expectType(adopt.value, 'commit', 'the creator adopting its commit')
    const processed = await timed(() => this.member.receive(e))
    expectType(processed.value, 'commit', 'the member processing the commit')
    return {
      welcome: made.value.welcome,
      stats: {
        commitBytes: made.value.commit.length,
        welcomeBytes: made.value.welcome?.length ?? 0,
        commitMs: made.ms,
        adoptMs: adopt.ms,
        processMs: processed.ms,
        joinMs: 0,
      },
    }
  }
}

/** A commit by `author`'s group, taken back from the log at once (how the build phase commits). */
async function commitAndAdopt(author: Person, group: MlsGroup, change: MembershipChange) {
  const made = await group.commit(change)
  if (!made) throw new Error('nothing to commit')
  expectType(await group.receive(logged(author, MlsKind.commit, made.commit)), 'commit', 'adopting a commit')
  return made
}

// ---- messages: MLS and pairwise -----------------------------------------------------------

/** One round of a scheme at one N: what its sender and one receiver manage. */
interface Rates {
  encPerS: number
  decPerS: number
  bytes: number
}

/** Repeats `op` for ROUND_SECONDS (at least MIN_OPS times); returns what it made and the rate. */
async function repeat<T>(op: () => T | Promise<T>): Promise<{ out: T[]; perS: number }> {
  const out: T[] = []
  const start = performance.now()
  const deadline = start + ROUND_SECONDS * 1000
  while (out.length < MIN_OPS || performance.now() < deadline) out.push(await op())
  return { out, perS: out.length / ((performance.now() - start) / 1000) }
}

/** Times `op` over `items` once each; returns items per second. */
async function rate<T>(items: readonly T[], op: (item: T) => unknown): Promise<number> {
  const start = performance.now()
  for (const item of items) await op(item)
  return items.length / ((performance.now() - start) / 1000)
}

async function mlsRound(bed: Testbed): Promise<Rates> {
  const sent = await repeat(async () =>
    logged(bed.creator, MlsKind.message, await bed.owner.encrypt('message', BODY)),
  )
  const decPerS = await rate(sent.out, async (e) =>
    expectType(await bed.member.receive(e), 'message', 'the member decrypting'),
  )
  return { encPerS: sent.perS, decPerS, bytes: sent.out[0]!.body.length }
}

/** A member's long-term X25519 key pair (what pairwise seals to). */
interface Recipient {
  publicKey: KeyObject
  privateKey: KeyObject
}

const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
const RAW_KEY = 32
const NONCE = 12
const TAG = 16
const SIGNATURE = 64
const HKDF_INFO = Buffer.from('peerchat bench pairwise')

/** `body` sealed to each recipient separately, then signed once: [eph | nonce | ciphertext | tag]* sig. */
function pairwiseSeal(body: Uint8Array, to: readonly Recipient[], signer: KeyObject): Buffer {
  const slots: Buffer[] = []
  for (const r of to) {
    const eph = generateKeyPairSync('x25519')
    const key = hkdfSync(
      'sha256',
      diffieHellman({ privateKey: eph.privateKey, publicKey: r.publicKey }),
      '',
      HKDF_INFO,
      16,
    )
    const nonce = randomBytes(NONCE)
    const c = createCipheriv('aes-128-gcm', Buffer.from(key), nonce)
    const raw = eph.publicKey.export({ format: 'der', type: 'spki' }).subarray(-RAW_KEY)
    slots.push(raw, nonce, c.update(body), c.final(), c.getAuthTag())
  }
  const sealed = Buffer.concat(slots)
  return Buffer.concat([sealed, sign(null, sealed, signer)])
}

/** Recipient `index` verifies the whole message and opens its slot (it knows its position). */
function pairwiseOpen(
  msg: Buffer,
  index: number,
  me: Recipient,
  sender: KeyObject,
  bodyBytes: number,
): Buffer {
  const sealed = msg.subarray(0, msg.length - SIGNATURE)
  if (!verify(null, sealed, sender, msg.subarray(sealed.length)))
    throw new Error('pairwise signature invalid')
  const slot = sealed.subarray(index * (RAW_KEY + NONCE + bodyBytes + TAG))
  const eph = createPublicKey({
    key: Buffer.concat([X25519_SPKI_PREFIX, slot.subarray(0, RAW_KEY)]),
    format: 'der',
    type: 'spki',
  })
  const key = hkdfSync(
    'sha256',
    diffieHellman({ privateKey: me.privateKey, publicKey: eph }),
    '',
    HKDF_INFO,
    16,
  )
  const d = createDecipheriv('aes-128-gcm', Buffer.from(key), slot.subarray(RAW_KEY, RAW_KEY + NONCE))
  const tagAt = RAW_KEY + NONCE + bodyBytes
  d.setAuthTag(slot.subarray(tagAt, tagAt + TAG))
  return Buffer.concat([d.update(slot.subarray(RAW_KEY + NONCE, tagAt)), d.final()])
}

/** The sender's signing key and the other members' X25519 keys (the largest N's, sliced per N). */
const pairwise = {
  signer: generateKeyPairSync('ed25519'),
  recipients: Array.from({ length: Math.max(...MESSAGE_SIZES) - 1 }, () => generateKeyPairSync('x25519')),
}

async function pairwiseRound(n: number, body: Uint8Array): Promise<Rates> {
  const to = pairwise.recipients.slice(0, n - 1)
  const last = to.length - 1
  const sent = await repeat(() => pairwiseSeal(body, to, pairwise.signer.privateKey))
  const decPerS = await rate(sent.out, (m) =>
    pairwiseOpen(m, last, to[last]!, pairwise.signer.publicKey, body.length),
  )
  return { encPerS: sent.perS, decPerS, bytes: sent.out[0]!.length }
}

interface MessageResult {
  n: number
  mls: Rates
  pairwise: Rates
  /** Pairwise time per message over MLS's (encrypt, decrypt), median of the per-round ratios. */
  encRatio: number
  decRatio: number
}

async function measureMessages(bed: Testbed): Promise<MessageResult> {
  const n = bed.size
  await mlsRound(bed) // warm up JIT and key caches
  await pairwiseRound(n, BODY)
  const mls: Rates[] = []
  const pw: Rates[] = []
  for (let r = 0; r < ROUNDS; r++) {
    mls.push(await mlsRound(bed))
    pw.push(await pairwiseRound(n, BODY))
  }
  const med = (rs: Rates[]): Rates => ({
    encPerS: median(rs.map((x) => x.encPerS)),
    decPerS: median(rs.map((x) => x.decPerS)),
    bytes: median(rs.map((x) => x.bytes)),
  })
  const paired = (k: 'encPerS' | 'decPerS') => median(mls.map((m, r) => m[k] / pw[r]![k]))
  return { n, mls: med(mls), pairwise: med(pw), encRatio: paired('encPerS'), decRatio: paired('decPerS') }
}

// ---- membership ---------------------------------------------------------------------------

interface MembershipResult {
  n: number
  buildS: number
  /** The first add's joiner, into the batch-built tree (no parent node set yet). */
  firstJoinMs: number
  /** Medians over the adds after a remove. */
  add: Commit
  remove: Commit
  /** Pairwise re-key after a removal at N: ms to seal a 16-byte key to the N-2 others left, and its bytes. */
  rekeyMs: number
  rekeyBytes: number
}

const medianCommit = (cs: Commit[]): Commit => {
  const k = (key: keyof Commit) => median(cs.map((c) => c[key]))
  return {
    commitBytes: k('commitBytes'),
    welcomeBytes: k('welcomeBytes'),
    commitMs: k('commitMs'),
    adoptMs: k('adoptMs'),
    processMs: k('processMs'),
    joinMs: k('joinMs'),
  }
}

/** Prints `line()` when the last progress line is over 5 s old (long phases at N = 1,000). */
function progress(n: number): (line: () => string) => void {
  const start = performance.now()
  let shown = start
  return (line) => {
    if (performance.now() - shown < 5000) return
    shown = performance.now()
    console.log(`  N=${n}: ${line()}, ${((shown - start) / 1000).toFixed(0)} s`)
  }
}

/**
 * Builds the group of N-1 and adds one person (N): the batch-built tree has no parent node yet
 * (adds carry no path), so this first join is measured apart. Then REPS times: remove one from
 * the middle (N-1; removes carry a path, which sets parent nodes), add one (N).
 */
async function measureSize(n: number): Promise<{ membership?: MembershipResult; messages: MessageResult }> {
  const start = performance.now()
  const size = n === 2 ? 2 : n - 1 // N = 2 only serves the messages
  const show = progress(n)
  const bed = await Testbed.build(size, (done) => show(() => `${done}/${size} in the group`))
  const buildS = (performance.now() - start) / 1000
  console.log(`  N=${n}: group of ${size} built in ${buildS.toFixed(1)} s`)
  if (n === 2) return { messages: await measureMessages(bed) }
  const first = await bed.add()
  const messages = await measureMessages(bed)
  const adds: Commit[] = []
  const removes: Commit[] = []
  for (let r = 0; r < REPS; r++) {
    removes.push(await bed.remove())
    adds.push(await bed.add())
    show(() => `remove + add ${r + 1}/${REPS} done`)
  }
  const rekey = await repeat(() =>
    pairwiseSeal(
      randomBytes(GROUP_KEY_BYTES),
      pairwise.recipients.slice(0, n - 2), // the members left besides the remover
      pairwise.signer.privateKey,
    ),
  )
  return {
    messages,
    membership: {
      n,
      buildS,
      firstJoinMs: first.joinMs,
      add: medianCommit(adds),
      remove: medianCommit(removes),
      rekeyMs: 1000 / rekey.perS,
      rekeyBytes: rekey.out[0]!.length,
    },
  }
}

// ---- report -------------------------------------------------------------------------------

const int = (x: number) => Math.round(x).toLocaleString('en-US')
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : int(x))
const ratio = (x: number) => `${x < 0.1 ? x.toFixed(3) : x < 10 ? x.toFixed(2) : x.toFixed(0)}x`

function table(header: string[], rows: string[][]): void {
  console.log(`| ${header.join(' | ')} |`)
  console.log(`| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`)
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
}

function reportMessages(rs: MessageResult[]): void {
  console.log('\nApplication messages (100-byte body; median of rounds; ratios paired per round):\n')
  table(
    [
      'N',
      'MLS encrypt/s',
      'MLS decrypt/s',
      'MLS B/msg',
      'pairwise encrypt/s',
      'pairwise decrypt/s',
      'pairwise B/msg',
      'encrypt: pairwise time / MLS',
      'decrypt: pairwise time / MLS',
      'bytes: pairwise / MLS',
    ],
    rs.map((r) => [
      int(r.n),
      int(r.mls.encPerS),
      int(r.mls.decPerS),
      int(r.mls.bytes),
      int(r.pairwise.encPerS),
      int(r.pairwise.decPerS),
      int(r.pairwise.bytes),
      ratio(r.encRatio),
      ratio(r.decRatio),
      ratio(r.pairwise.bytes / r.mls.bytes),
    ]),
  )
}

function reportMembership(rs: MembershipResult[]): void {
  console.log(
    `\nAdding one member to N-1 (build = creating the group of N-1 in commits of ${BATCH} adds; median of the ${REPS} adds after a remove; the first add's join apart):\n`,
  )
  table(
    [
      'N',
      'build, s',
      'commit ms',
      'commit B',
      'Welcome B',
      'committer adopts ms',
      'member processes ms',
      'joiner joins ms',
      'first joiner (no parent nodes yet) ms',
    ],
    rs.map((r) => [
      int(r.n),
      r.buildS.toFixed(1),
      ms(r.add.commitMs),
      int(r.add.commitBytes),
      int(r.add.welcomeBytes),
      ms(r.add.adoptMs),
      ms(r.add.processMs),
      ms(r.add.joinMs),
      ms(r.firstJoinMs),
    ]),
  )
  console.log(
    `\nRemoving one member at N (median of ${REPS}) vs a pairwise re-key (a fresh ${GROUP_KEY_BYTES}-byte key sealed to the N-2 members left besides the remover):\n`,
  )
  table(
    [
      'N',
      'commit ms',
      'commit B',
      'committer adopts ms',
      'member processes ms',
      'pairwise re-key ms',
      're-key B',
      'time: commit / re-key',
      'bytes: commit / re-key',
    ],
    rs.map((r) => [
      int(r.n),
      ms(r.remove.commitMs),
      int(r.remove.commitBytes),
      ms(r.remove.adoptMs),
      ms(r.remove.processMs),
      ms(r.rekeyMs),
      int(r.rekeyBytes),
      ratio(r.remove.commitMs / r.rekeyMs),
      ratio(r.remove.commitBytes / r.rekeyBytes),
    ]),
  )
}

async function main(): Promise<void> {
  useNodeCrypto()
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')
  const started = performance.now()
  console.log(
    `mls: N = ${MESSAGE_SIZES.join(', ')} (membership at ${SIZES.join(', ')}), ${ROUNDS} rounds of ${ROUND_SECONDS} s per message case, node ${process.version}, ${new Date().toISOString()}, load ${load()}`,
  )
  const messages: MessageResult[] = []
  const membership: MembershipResult[] = []
  for (const n of MESSAGE_SIZES) {
    const r = await measureSize(n)
    messages.push(r.messages)
    if (r.membership) membership.push(r.membership)
  }
  reportMessages(messages)
  reportMembership(membership)
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s, load at the end ${load()}`)
}

await main()
