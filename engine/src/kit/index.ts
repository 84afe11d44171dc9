/**
 * `@peerchat/engine/kit`: projections for tools that are not chat, folded from a channel's
 * events like the chat view (docs/protocol/kit.md). No Yjs here.
 *
 * - `LwwMap`: a last-writer-wins map with removals, on an author hybrid logical clock (default)
 *   or the relay's stamp order;
 * - fractional positions (`between`): sortable keys to place items without renumbering;
 * - `OrderedList`: items with a value and a position, each a last-writer-wins field.
 */

export { bytesCodec, jsonCodec, stringCodec } from './codecs.ts'
export {
  decodeLww,
  encodeLww,
  isValidMapName,
  KitLimits,
  LWW_KIND,
  type LwwBody,
  type LwwEntryBody,
} from './lww-body.ts'
export {
  type LwwClock,
  type LwwKeyChange,
  LwwMap,
  type LwwMapChange,
  type LwwMapOptions,
  type LwwMeta,
  type LwwOp,
  type ReplicaPort,
  type ValueCodec,
} from './lww-map.ts'
export {
  LIST_ID_LENGTH,
  type ListField,
  type ListItem,
  type ListItemChange,
  listFieldCodec,
  MAX_LIST_ID_BYTES,
  OrderedList,
  type OrderedListChange,
  type OrderedListOptions,
  type Placement,
} from './ordered-list.ts'
export {
  type BetweenOptions,
  between,
  comparePositions,
  DEFAULT_TIE_BREAK,
  isValidPosition,
  MAX_POSITION_LENGTH,
  POSITION_DIGITS,
} from './position.ts'
