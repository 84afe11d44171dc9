/**
 * The owner's policy (who may post, create channels, log in) and the relay's soft channel list.
 */
import { Privilege, publicKeyToText } from '@peerchat/engine'

export type Who = 'everyone' | 'admins'

export interface PolicyOptions {
  /** Public keys (base64url text) with every privilege; they may also sign invites. */
  adminKeys: string[]
  /** Who may post events in existing channels. Default: everyone logged in. */
  post: Who
  /** Who may create channels (a `channel.create` event). Default: admins. */
  create: Who
  /** 'invite': a non-admin needs an admin-signed invite to log in. */
  access: 'open' | 'invite'
}

export const DEFAULT_POLICY: PolicyOptions = {
  adminKeys: [],
  post: 'everyone',
  create: 'admins',
  access: 'open',
}

export class Policy {
  private readonly admins: Set<string>
  constructor(readonly options: PolicyOptions) {
    this.admins = new Set(options.adminKeys)
  }

  isAdmin(publicKey: Uint8Array): boolean {
    return this.admins.has(publicKeyToText(publicKey))
  }

  privilegesOf(publicKey: Uint8Array): number {
    if (this.isAdmin(publicKey)) return Privilege.post | Privilege.create | Privilege.admin
    let p = 0
    if (this.options.post === 'everyone') p |= Privilege.post
    if (this.options.create === 'everyone') p |= Privilege.create
    return p
  }
}

/** Channels the relay knows of: configured ones plus those created while it runs (soft state). */
export class ChannelRegistry {
  private readonly names: Set<string>
  constructor(
    initial: string[],
    readonly maxChannels: number,
  ) {
    this.names = new Set(initial)
  }

  has(name: string): boolean {
    return this.names.has(name)
  }

  /** Adds a channel; false when the list is full. */
  add(name: string): boolean {
    if (this.names.has(name)) return true
    if (this.names.size >= this.maxChannels) return false
    this.names.add(name)
    return true
  }

  isFull(): boolean {
    return this.names.size >= this.maxChannels
  }

  list(): string[] {
    return [...this.names]
  }
}
