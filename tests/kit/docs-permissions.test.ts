/**
 * Canvas permissions on the real Replica and the memory relay (issue #15): who may edit a
 * channel's documents follows its roles. Each peer folds the `admin` channel it holds and gives
 * its DocRegistry `authorize: mayEdit(state, author, channel, ts)`. The memory relay stamps
 * anything (a relay that did not judge, or a hostile one), so the peers' documents are the last
 * line: a member's update never reaches their Y.Doc, an editor's does.
 */
import { type Replica, type StampedEvent, toHex, type Write } from '@peerchat/engine'
import {
  ADMIN_CHANNEL,
  type AdminAction,
  AdminKind,
  type AdminState,
  BuiltinRole,
  encodeAdminBody,
  foldAdmin,
  mayEdit,
} from '@peerchat/engine/chat'
import { type DocHandle, DocRegistry, YJS_KIND } from '@peerchat/engine/docs'
import { describe, expect, it } from 'vitest'
import { world } from './world.ts'

const CHANNEL = 'team'

/** A peer's admin state: its `admin` log folded again whenever it changes. */
async function adminOf(replica: Replica): Promise<{ readonly state: AdminState }> {
  const events = new Map<string, StampedEvent>()
  const held = { state: foldAdmin([]).state }
  await replica.subscribe(ADMIN_CHANNEL, (change) => {
    for (const e of change.added) events.set(e.id, e)
    for (const id of change.replaced) events.delete(id)
    if (change.added.length > 0 || change.replaced.length > 0) held.state = foldAdmin(events.values()).state
  })
  return held
}

async function canvases() {
  const w = await world()
  const registries: DocRegistry[] = []
  const peer = async () => {
    const p = await w.peer()
    const admin = await adminOf(p.replica)
    const rejected: string[] = []
    const registry = await DocRegistry.open(p.replica, CHANNEL, {
      doc: {
        batchMs: 60_000,
        authorize: (ev) => mayEdit(admin.state, ev.author, ev.channel, ev.ts),
      },
      onRejected: (name, r) => rejected.push(...r.map((x) => `${name}:${x.reason}`)),
    })
    registries.push(registry)
    w.onStop(() => registry.close())
    const act = async (action: AdminAction): Promise<Write> =>
      p.replica.write(ADMIN_CHANNEL, action.kind, encodeAdminBody(action))
    return { ...p, admin, registry, rejected, act }
  }
  const settle = async () => {
    await w.clock.advance(100)
    for (const r of registries) await r.settled()
  }
  return { ...w, peer, settle }
}

async function edit(handle: DocHandle, s: string): Promise<void> {
  const t = handle.doc.getText('t')
  t.insert(t.length, s)
  await handle.flush()
}

const text = (handle: DocHandle) => handle.doc.getText('t').toString()

describe('canvas permissions (mayEdit as a DocHandle authorize)', () => {
  it("a member's update stamped anyway is refused by the peer's document; an editor's applies", async () => {
    const w = await canvases()
    const owner = await w.peer()
    const member = await w.peer()
    await owner.act({ kind: AdminKind.claim, body: {} })
    await w.settle()
    await owner.act({
      kind: AdminKind.channelUpdate,
      body: { channel: CHANNEL, editRole: BuiltinRole.moderator },
    })
    await w.settle()
    expect(member.admin.state.channelAt(CHANNEL)?.editRole).toBe('moderator')

    const ownerNotes = await owner.registry.get('notes')
    const memberNotes = await member.registry.get('notes')
    await edit(ownerNotes, 'by the owner')
    await w.settle()
    expect(text(memberNotes)).toBe('by the owner') // an editor's update applies on the peer

    await edit(memberNotes, ' + by a member')
    const [write] = member.replica.writes(CHANNEL)
    expect(write?.request.kind).toBe(YJS_KIND)
    await w.settle()
    // The relay stamped it (the memory relay judges nothing) and the owner's replica holds it...
    const held = await owner.replica.open(CHANNEL).range({})
    const stamped = held.find((e) => toHex(e.clientNonce) === toHex(write!.request.clientNonce))
    expect(stamped).toBeDefined()
    // ...yet its document refused it before Y.applyUpdate: the text is unchanged.
    expect(text(ownerNotes)).toBe('by the owner')
    expect(owner.rejected).toEqual(['notes:not-permitted'])
    expect(ownerNotes.history()).toHaveLength(1)
    expect(text(memberNotes)).toBe('by the owner + by a member') // local-first: the UI gates edits (whyNotEdit)

    // Promoted, the member edits from then on (another document: its refused edit stays refused).
    await owner.act({
      kind: AdminKind.roleSet,
      body: { target: write!.request.author, role: BuiltinRole.moderator },
    })
    await w.settle()
    const memberTodo = await member.registry.get('todo')
    await edit(memberTodo, 'by a moderator')
    await w.settle()
    expect(text(await owner.registry.get('todo'))).toBe('by a moderator')
    expect(owner.rejected).toEqual(['notes:not-permitted']) // nothing new refused
    await w.stop()
  })
})
