/**
 * A worked example of the wire format (docs/protocol/identity-event.md, "Worked example"):
 * an author with seed 0x11 x 32 signs a "message" to "general" with body "hello" and nonce
 * 0x33 x 16; a relay with seed 0x22 x 32 stamps it with id 01JD0000000000000000000000.
 * Frozen: if an encoding change breaks these, it breaks every deployed peer too.
 */
export const EVENT_VECTOR = {
  authorSeed: '11'.repeat(32),
  authorPub: 'd04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737',
  authorKeyText:
    'peerchat-secret-key-v1.ERERERERERERERERERERERERERERERERERERERERERE.0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc',
  relaySeed: '22'.repeat(32),
  relayPub: 'a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0',
  channel: 'general',
  kind: 'message',
  clientNonce: '33'.repeat(16),
  body: '68656c6c6f', // "hello"
  id: '01JD0000000000000000000000',
  idHex: '01934000000000000000000000000000',
  ts: 1731945562112,
  /** version 01 | 07 "general" | 07 "message" | author | nonce | 05 "hello" */
  authored:
    '010767656e6572616c076d657373616765d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737333333333333333333333333333333330568656c6c6f',
  authorSig:
    'fb0fd20d89602928cfc404e87f9ae224f64001e43cdfb8bd54d66bcd55920d989c0a419119794300817f4d70029e1b8f6028b4663dcd9ee0ba58bf4a9e21170e',
  relaySig:
    '00ca14bbbabadf1901418a4e299279e6ad332017245e1c53b6742442daedcf92b3f62f31699c86cf52629f40675803aaa9006887f65e455407c681edde6fcf00',
  /** SHA-256 of the stamped event's bytes (id | authored | authorSig | relaySig). */
  digest: '76db4309754e14b62e8a72d366ecebb75e9e8c21001644d6369edb4a802bc2bb',
} as const
