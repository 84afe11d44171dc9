/**
 * This device as an MLS client: an MLS signature key pair vouched for by the user's peerchat key
 * (credential.ts), and the key packages it published, whose private parts it keeps until a
 * Welcome uses one. Key packages are published as `mls.keypackage` events authored by the user,
 * so that whoever adds someone takes a key package that user posted.
 */

import {
  type Credential,
  defaultCapabilities,
  defaultLifetime,
  generateKeyPackageWithKey,
  type KeyPackage,
  type PrivateKeyPackage,
} from 'ts-mls'
import { decodeKeyPackage, encodeKeyPackage, makeKeyPackageRef, verifyKeyPackage } from 'ts-mls/keyPackage.js'
import { equalBytes, toHex } from '../bytes.ts'
import {
  createWriter,
  decodeWith,
  finish,
  type Reader,
  writeU8,
  writeVarBytes,
  writeVarUint,
} from '../codec.ts'
import { DecodeError } from '../errors.ts'
import type { PublicKey, Signer } from '../identity/keys.ts'
import { bindCredential, checkCredential } from './credential.ts'
import { mlsSuite } from './suite.ts'
import { readMlsMessage, writeMlsMessage } from './wire.ts'

/** Key packages kept for Welcomes (default 100; the oldest are forgotten, they can no longer be joined with). */
export const KEY_PACKAGES_KEPT = 100

const DEVICE_VERSION = 1

export interface MlsSigningKey {
  signKey: Uint8Array
  publicKey: Uint8Array
}

export class MlsDevice {
  private kept = new Map<string, { pub: KeyPackage; priv: PrivateKeyPackage }>()

  private constructor(
    readonly signer: Signer,
    readonly key: MlsSigningKey,
    readonly credential: Credential,
  ) {}

  /** A device with a new MLS key (or `key`, one made before), vouched for by `signer`. */
  static async create(signer: Signer, key?: MlsSigningKey): Promise<MlsDevice> {
    const suite = await mlsSuite()
    const k = key ?? (await suite.signature.keygen())
    return new MlsDevice(signer, k, await bindCredential(signer, k.publicKey))
  }

  /**
   * The device's secrets (its MLS key and the key packages it still holds) as bytes to keep
   * beside the identity, as safely: a device that forgets them cannot join from a Welcome made
   * for its published key packages.
   */
  export(): Uint8Array {
    const w = createWriter()
    writeU8(w, DEVICE_VERSION)
    writeVarBytes(w, this.key.signKey)
    writeVarBytes(w, this.key.publicKey)
    writeVarUint(w, this.kept.size)
    for (const { pub, priv } of this.kept.values()) {
      writeVarBytes(w, encodeKeyPackage(pub))
      writeVarBytes(w, priv.initPrivateKey)
      writeVarBytes(w, priv.hpkePrivateKey)
      writeVarBytes(w, priv.signaturePrivateKey)
    }
    return finish(w)
  }

  /** The device `export` wrote, for `signer` (throws DecodeError on anything else). */
  static async import(signer: Signer, bytes: Uint8Array): Promise<MlsDevice> {
    const { key, kept } = decodeWith(
      bytes,
      (r: Reader) => {
        const v = r.u8('device version')
        if (v !== DEVICE_VERSION) throw new DecodeError(`unsupported MLS device version ${v}`)
        const key = { signKey: r.varBytes(256, 'signing key'), publicKey: r.varBytes(32, 'public key') }
        const n = r.count(KEY_PACKAGES_KEPT, 4, 'key packages')
        const kept: { pub: KeyPackage; priv: PrivateKeyPackage }[] = []
        for (let i = 0; i < n; i++) {
          const body = r.varBytes(64 * 1024, 'key package')
          const decoded = decodeKeyPackage(body, 0)
          if (!decoded || decoded[1] !== body.length) throw new DecodeError('not a key package')
          kept.push({
            pub: decoded[0],
            priv: {
              initPrivateKey: r.varBytes(256, 'init key'),
              hpkePrivateKey: r.varBytes(256, 'hpke key'),
              signaturePrivateKey: r.varBytes(256, 'signature key'),
            },
          })
        }
        return { key, kept }
      },
      'MLS device',
    )
    const device = await MlsDevice.create(signer, key)
    for (const kp of kept) device.kept.set(await refOf(kp.pub), kp)
    return device
  }

  get user(): PublicKey {
    return this.signer.publicKey
  }

  /** A fresh key package and its secrets, not kept (a group's creator uses its own at once). */
  async generate(): Promise<{ pub: KeyPackage; priv: PrivateKeyPackage }> {
    const kp = await generateKeyPackageWithKey(
      this.credential,
      defaultCapabilities(),
      defaultLifetime,
      [],
      this.key,
      await mlsSuite(),
    )
    return { pub: kp.publicPackage, priv: kp.privatePackage }
  }

  /** A fresh key package: the body of an `mls.keypackage` event (its secrets stay here). */
  async keyPackage(): Promise<Uint8Array> {
    const kp = await this.generate()
    this.kept.set(await refOf(kp.pub), kp)
    if (this.kept.size > KEY_PACKAGES_KEPT) this.kept.delete(this.kept.keys().next().value!)
    return writeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp.pub })
  }

  /** The key package (and its secrets) a Welcome names by reference, if this device made it. */
  keptFor(
    refs: readonly Uint8Array[],
  ): { pub: KeyPackage; priv: PrivateKeyPackage; ref: string } | undefined {
    for (const r of refs) {
      const ref = toHex(r)
      const kp = this.kept.get(ref)
      if (kp) return { ...kp, ref }
    }
    return undefined
  }

  /**
   * A Welcome used this key package. It stays usable as a last resort (RFC 9420 §16.8) until
   * `KEY_PACKAGES_KEPT` newer ones push it out: another inviter may still pick it before this
   * device's fresh one (published after every use) reaches them, and would otherwise invite
   * nobody.
   */
  used(ref: string): void {
    const kp = this.kept.get(ref)
    if (!kp) return
    // Moved to the front of the eviction order: the used ones go first.
    this.kept.delete(ref)
    this.kept = new Map([[ref, kp], ...this.kept])
  }
}

/**
 * A key package someone published, checked: it decodes, its signature verifies, its credential
 * binds its key to a user, and that user is `author` (who posted the event). Throws DecodeError.
 */
export async function readKeyPackage(body: Uint8Array, author: PublicKey): Promise<KeyPackage> {
  const m = readMlsMessage(body)
  if (m.wireformat !== 'mls_key_package') throw new DecodeError('not a key package')
  const kp = m.keyPackage
  const suite = await mlsSuite()
  if (!(await verifyKeyPackage(kp, suite.signature))) throw new DecodeError('key package signature invalid')
  const owner = await checkCredential(kp.leafNode.credential, kp.leafNode.signaturePublicKey)
  if (!owner || !equalBytes(owner, author)) throw new DecodeError('key package not vouched for by its author')
  return kp
}

export async function refOf(kp: KeyPackage): Promise<string> {
  return toHex(await makeKeyPackageRef(kp, (await mlsSuite()).hash))
}
