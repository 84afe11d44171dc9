/** What every bench shares: its flags and the median of its rounds. */

/** The value after `--name` in `args` (the process's arguments by default), if given. */
export function flag(name: string, args: readonly string[] = process.argv.slice(2)): string | undefined {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}

/** The median of a non-empty list (the upper middle one for an even count). */
export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
