/** The chat's event kinds (the log accepts any `[a-z][a-z0-9._-]*` kind; other tools add theirs). */
import { YJS_KIND } from '../docs/body.ts'

export const Kind = {
  message: 'message',
  edit: 'edit',
  redact: 'redact',
  reaction: 'reaction',
  attachment: 'attachment',
  profile: 'profile',
  channelCreate: 'channel.create',
  channelMeta: 'channel.meta',
  yjs: YJS_KIND,
} as const
