/**
 * Ed25519: native (node:crypto, WebCrypto) against the portable noble fallback, and the cost of
 * the engine's policy (verifySignature = policy checks + key cache + domain prefix + backend).
 *
 *   pnpm bench:ed25519            # ~2.5 s per case
 *   BENCH_SECONDS=1 pnpm bench:ed25519
 *
 * Every case signs or verifies a 200-byte payload with one of 64 signers (so key caches are
 * exercised the way a busy channel would), and prints ops/s (median of interleaved rounds)
 * with its ratio to noble (median of the per-round ratios).
 */
import {
  Domain,
  type Ed25519Backend,
  nobleBackend,
  randomBytes,
  signedMessage,
  verifySignature,
  webcryptoBackend,
} from '@peerchat/engine'
import { nodeCryptoBackend } from '@peerchat/engine/node'
import { bytesKey } from '../engine/src/identity/cache.ts'
import { passesPolicy, publicKeyVerdicts } from '../engine/src/identity/policy.ts'
import { median } from './cli.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2.5)
/**
 * The machine is shared, so cases run interleaved in short rounds and each reports its median
 * round: a burst of load from elsewhere then skews one round of every case, not one case.
 */
const ROUNDS = 5
const SIGNERS = 64
/** WebCrypto runs each call on libuv's thread pool: keep this many in flight to use every core. */
const IN_FLIGHT = 256

interface Fixture {
  seed: Uint8Array
  pub: Uint8Array
  payload: Uint8Array
  message: Uint8Array
  sig: Uint8Array
}

async function fixtures(): Promise<Fixture[]> {
  const out: Fixture[] = []
  for (let i = 0; i < SIGNERS; i++) {
    const seed = randomBytes(32)
    const payload = randomBytes(200)
    const message = signedMessage(Domain.event, payload)
    out.push({
      seed,
      payload,
      message,
      pub: await nodeCryptoBackend.publicKey(seed),
      sig: await nodeCryptoBackend.sign(seed, message),
    })
  }
  return out
}

type Op = (f: Fixture) => Promise<unknown>

/** Runs `op` for `seconds`, `concurrency` calls at a time; returns operations per second. */
async function measure(op: Op, fx: Fixture[], concurrency: number, seconds: number): Promise<number> {
  let done = 0
  const start = performance.now()
  const deadline = start + seconds * 1000
  while (performance.now() < deadline) {
    const batch: Promise<unknown>[] = []
    for (let i = 0; i < concurrency; i++) batch.push(op(fx[(done + i) % fx.length]!))
    await Promise.all(batch)
    done += concurrency
  }
  return done / ((performance.now() - start) / 1000)
}

interface Case {
  group: 'sign' | 'verify' | 'verifySignature' | 'policy'
  name: string
  concurrency: number
  op: Op
  /** noble is the baseline of its group. */
  baseline?: true
}

const raw = (b: Ed25519Backend): Op => {
  return async (f) => {
    if (!(await b.verify(f.pub, f.message, f.sig))) throw new Error(`${b.name} failed to verify`)
  }
}
const endToEnd = (b: Ed25519Backend): Op => {
  return async (f) => {
    if (!(await verifySignature(Domain.event, f.pub, f.payload, f.sig, b)))
      throw new Error(`${b.name} refused`)
  }
}
const signWith =
  (b: Ed25519Backend): Op =>
  (f) =>
    b.sign(f.seed, f.message)

/** What verifySignature adds to a backend call: the policy checks and the domain prefix. */
const policyOnly =
  (firstSight: boolean): Op =>
  async (f) => {
    // Forgetting the verdict makes every call pay the key decode + small-order check.
    if (firstSight) publicKeyVerdicts.delete(bytesKey(f.pub))
    if (!passesPolicy(f.pub, f.sig)) throw new Error('policy refused a valid signature')
    signedMessage(Domain.event, f.payload)
  }

const CASES: Case[] = [
  { group: 'sign', name: 'noble', concurrency: 1, op: signWith(nobleBackend), baseline: true },
  { group: 'sign', name: 'node:crypto', concurrency: 1, op: signWith(nodeCryptoBackend) },
  { group: 'sign', name: 'webcrypto, 1 in flight', concurrency: 1, op: signWith(webcryptoBackend) },
  {
    group: 'sign',
    name: `webcrypto, ${IN_FLIGHT} in flight`,
    concurrency: IN_FLIGHT,
    op: signWith(webcryptoBackend),
  },
  { group: 'verify', name: 'noble (cofactorless)', concurrency: 1, op: raw(nobleBackend), baseline: true },
  { group: 'verify', name: 'node:crypto', concurrency: 1, op: raw(nodeCryptoBackend) },
  { group: 'verify', name: 'webcrypto, 1 in flight', concurrency: 1, op: raw(webcryptoBackend) },
  {
    group: 'verify',
    name: `webcrypto, ${IN_FLIGHT} in flight`,
    concurrency: IN_FLIGHT,
    op: raw(webcryptoBackend),
  },
  { group: 'verifySignature', name: 'noble', concurrency: 1, op: endToEnd(nobleBackend), baseline: true },
  { group: 'verifySignature', name: 'node:crypto', concurrency: 1, op: endToEnd(nodeCryptoBackend) },
  {
    group: 'verifySignature',
    name: `webcrypto, ${IN_FLIGHT} in flight`,
    concurrency: IN_FLIGHT,
    op: endToEnd(webcryptoBackend),
  },
  { group: 'policy', name: 'key seen before (cached)', concurrency: 1, op: policyOnly(false) },
  { group: 'policy', name: 'first sight of a key', concurrency: 1, op: policyOnly(true) },
]

async function main(): Promise<void> {
  const fx = await fixtures()
  console.log(
    `ed25519: ${SECONDS}s per case in ${ROUNDS} interleaved rounds, ${SIGNERS} signers, 200-byte payloads, node ${process.version}`,
  )
  for (const c of CASES) await measure(c.op, fx, c.concurrency, 0.2) // warm caches and JIT
  const rounds = new Map<Case, number[]>(CASES.map((c) => [c, []]))
  for (let r = 0; r < ROUNDS; r++)
    for (const c of CASES) rounds.get(c)!.push(await measure(c.op, fx, c.concurrency, SECONDS / ROUNDS))
  const result = (group: string, name: string) =>
    median(rounds.get(CASES.find((c) => c.group === group && c.name === name)!)!)
  // Ratios are paired per round (case and baseline ran seconds apart), then the median is taken.
  const ratioToBaseline = (c: Case) => {
    const base = rounds.get(CASES.find((b) => b.group === c.group && b.baseline)!)!
    return median(rounds.get(c)!.map((ops, r) => ops / base[r]!))
  }
  for (const c of CASES.filter((c) => c.group !== 'policy')) {
    const ops = result(c.group, c.name)
    console.log(
      `${c.group.padEnd(16)} ${c.name.padEnd(26)} ${Math.round(ops).toString().padStart(8)} ops/s  ${ratioToBaseline(c).toFixed(1).padStart(5)}x noble`,
    )
  }
  // The policy's cost per call, as a share of one node:crypto verification (the fast path it guards).
  const nativeVerify = result('verify', 'node:crypto')
  for (const c of CASES.filter((c) => c.group === 'policy')) {
    const ops = result(c.group, c.name)
    console.log(
      `policy           ${c.name.padEnd(26)} ${(1e6 / ops).toFixed(1).padStart(8)} us/call  = ${((100 * nativeVerify) / ops).toFixed(1)}% of a node:crypto verify`,
    )
  }
  const e2e = result('verifySignature', 'node:crypto') / nativeVerify
  console.log(
    `end to end       verifySignature(node:crypto) at ${(e2e * 100).toFixed(0)}% of the raw verify rate (noisy)`,
  )
}

await main()
