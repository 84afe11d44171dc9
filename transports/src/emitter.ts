/** The engine's typed emitter over the transport events (kept as a name of this package's API). */
import { TypedEmitter } from '@peerchat/engine'
import type { TransportEvents } from './transport.ts'

export class TransportEmitter extends TypedEmitter<TransportEvents> {}
