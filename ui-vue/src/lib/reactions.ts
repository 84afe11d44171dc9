/** The quick reactions offered in the picker (any emoji up to ChatLimits.emoji bytes is valid). */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '👀'] as const
