/**
 * A channel log for MLS tests: events appended in order (the relay's stamp order) with
 * increasing ids, authored by whoever publishes; each person is a peerchat identity with an MLS
 * device and an `MlsChannel` that reads the log from where it stopped. The real MlsChannel and
 * ts-mls run; only the relay and store are this array.
 */
import { Identity } from '../src/identity/keys.ts'
import {
  type CommitPolicy,
  MlsChannel,
  MlsDevice,
  type MlsEvent,
  MlsKind,
  readKeyPackage,
} from '../src/mls/index.ts'
import { privateChannelOf } from '../src/private-channels.ts'
import { fixtureUlid } from '../src/testing/index.ts'
import type { Ulid } from '../src/ulid.ts'

/** The group's channel in these tests. */
export const GROUP = privateChannelOf(new TextEncoder().encode('group-1'))

export class TestLog {
  readonly events: MlsEvent[] = []
  /** Bytes of every event body appended (what a relay would have carried). */
  bytes = 0

  append(author: Uint8Array, kind: string, body: Uint8Array): MlsEvent {
    const n = this.events.length + 1
    const e = { id: fixtureUlid(1_800_000_000_000 + n, n), kind, author, body }
    this.events.push(e)
    this.bytes += body.length
    return e
  }

  from(id: Ulid): MlsEvent[] {
    return this.events.filter((e) => e.id >= id)
  }
}

export interface Person {
  name: string
  id: Identity
  device: MlsDevice
  channel: MlsChannel
  /** Decrypted messages: event id -> text. */
  got: Map<Ulid, string>
  /** Commits applied: epoch -> event id. */
  epochs: Map<bigint, Ulid>
  /** Publishes refused from now on (a relay that refuses this person). */
  refuse: boolean
}

export async function person(name: string, log: TestLog, policy?: CommitPolicy): Promise<Person> {
  const id = await Identity.generate()
  const device = await MlsDevice.create(id)
  const p: Person = {
    name,
    id,
    device,
    got: new Map(),
    epochs: new Map(),
    refuse: false,
    channel: undefined as unknown as MlsChannel,
  }
  p.channel = new MlsChannel({
    device,
    channel: GROUP,
    // One log for all: the group's channel and `mls-welcomes` in one order (the channel reads
    // Welcomes from its stream too).
    publish: async (_to, kind, body) => {
      if (p.refuse) throw new Error('refused by the relay')
      log.append(id.publicKey, kind, body)
    },
    read: async (from) => log.from(from),
    ...(policy ? { policy } : {}),
  })
  p.channel.on({
    message: (eid, inner) => p.got.set(eid, new TextDecoder().decode(inner.body)),
    change: (eid, c) => {
      p.epochs.set(c.epoch, eid)
    },
  })
  return p
}

/** Publishes a key package for `p` and returns it as an adder reads it (checked against its author). */
export async function publishedKeyPackage(p: Person, log: TestLog) {
  const e = log.append(p.id.publicKey, MlsKind.keyPackage, await p.device.keyPackage())
  return readKeyPackage(e.body, e.author)
}

/** Everyone reads the log until nobody appends anything (lost commits are proposed again meanwhile). */
export async function settle(people: readonly Person[], log: TestLog): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const before = log.events.length
    for (const p of people) await p.channel.take(log.events)
    if (log.events.length === before) return
  }
  throw new Error('the log did not settle in 20 rounds')
}

export const say = (p: Person, text: string) => p.channel.send('message', new TextEncoder().encode(text))

/** People by name: `const { ann, bob } = await crowd(log, 'ann', 'bob')`. */
export async function crowd<N extends string>(log: TestLog, ...names: N[]): Promise<Record<N, Person>> {
  const out = {} as Record<N, Person>
  for (const n of names) out[n] = await person(n, log)
  return out
}

/** `creator` starts the group and adds `others` in one commit; everyone reads it (epoch 1). */
export async function startGroup(log: TestLog, creator: Person, ...others: Person[]): Promise<void> {
  await creator.channel.create()
  const packages = []
  for (const p of others) packages.push(await publishedKeyPackage(p, log))
  await creator.channel.add(packages)
  await settle([creator, ...others], log)
}
