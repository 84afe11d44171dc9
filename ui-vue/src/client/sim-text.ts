/** Chat-like text for simulated peers: short lines, some long, some multi-line, some mentions. */
import { pick, type Random } from './prng.ts'

const LINES = [
  'morning all',
  'anyone tried the new build yet?',
  'the relay restarted fine after the config change',
  'pushed a fix for the reconnect loop',
  'lunch?',
  'I think the ULID ordering explains it: the stamps are monotonic per relay',
  'looks good to me',
  'can someone review the sync PR when they get a minute',
  'the benchmark numbers are in the README now',
  'brb',
  'that screenshot is from the phone layout',
  'ha, classic',
  'we should write that down in the threat model',
  'does the virtual client keep 24 hours or 48?',
  'merging after CI goes green',
  'thanks!',
  'interesting, I only see it on Firefox',
  'the image came from a peer, not the relay, nice',
  'I am going to be offline for a bit',
  'who is on call this week?',
  '+1',
  'agreed',
  'let us keep the frames small: 16 KiB is the default limit',
  'the typing indicator is only a hint, awareness can be spoofed',
]

const PARAGRAPH =
  'Longer thought: when two peers reconnect after a partition they compare range fingerprints, ' +
  'split the ranges that differ and exchange only the missing events, so the cost grows with the ' +
  'difference and not with the history. The relay never sees the history at all.'

export function chatLine(random: Random, names: readonly string[]): string {
  const r = random()
  if (r < 0.05) return PARAGRAPH
  if (r < 0.12) return `${pick(random, LINES)}\n${pick(random, LINES)}\n${pick(random, LINES)}`
  if (r < 0.2 && names.length > 0) return `@${pick(random, names)} ${pick(random, LINES)}`
  if (r < 0.35) return `${pick(random, LINES)} ${pick(random, LINES)}`
  return pick(random, LINES)
}

export { QUICK_REACTIONS as REACTIONS } from '../lib/reactions.ts'
