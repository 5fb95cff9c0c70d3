/**
 * A software WebAuthn authenticator, written with nothing but Node's crypto, for API-level tests
 * and the benchmark: it answers registration options (`PublicKeyCredentialCreationOptionsJSON`)
 * and request options (`PublicKeyCredentialRequestOptionsJSON`) the way a browser plus an
 * authenticator would, and gives back what `PublicKeyCredential.toJSON()` gives:
 *
 *   const key = createSoftAuthenticator({ origin: 'https://app.example.com' });
 *   const registration = key.register(options);          // POST /v1/me/webauthn/registration
 *   const assertion = key.assert(requestOptions);        // POST /v1/login/mfa/webauthn, /v1/login/passkey
 *
 * Credentials are ES256 (P-256) key pairs with attestation "none" (fmt "none", empty attStmt).
 * It does not use @simplewebauthn or any CBOR package, so the server is checked against an
 * independent encoder. Everything a test may want to get wrong can be set per ceremony:
 * `origin`, `rpId`, `challenge`, `type`, the flags (UP, UV, BE, BS), the signature counter, the
 * user handle, the credential used, and a tampered signature.
 *
 * What it models of a real authenticator:
 * - discoverable credentials (residentKey "required"/"preferred") keep the user handle and are
 *   found without allowCredentials; others are found only through allowCredentials;
 * - user verification happens when asked ("required" or "preferred") and the authenticator can
 *   (`userVerification: false` models a key without PIN or biometric);
 * - excludeCredentials: registering an authenticator that already holds a listed credential
 *   throws, as `navigator.credentials.create` does (InvalidStateError);
 * - the counter goes up by one per assertion (`counter: 'none'` keeps it at 0, like synced
 *   passkeys); `clone()` copies keys and counters, as a cloned security key would.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

export type Flags = {
  /** User present (UP, bit 0). */
  up?: boolean;
  /** User verified (UV, bit 2). */
  uv?: boolean;
  /** Backup eligible (BE, bit 3): a credential that may be synced to other devices. */
  be?: boolean;
  /** Backed up (BS, bit 4). */
  bs?: boolean;
};

export type SoftAuthenticatorOptions = {
  /** The origin put in clientDataJSON unless a ceremony says otherwise. */
  origin: string;
  /** 16 bytes; zeros by default (what "none" attestation reports anyway). */
  aaguid?: Buffer;
  transports?: string[];
  attachment?: 'platform' | 'cross-platform';
  /** Whether it can verify the user (PIN, biometric). Default true. */
  userVerification?: boolean;
  /** BE: the credentials may be synced (a passkey provider). Default false. */
  backupEligible?: boolean;
  /** BS: they are synced now. Default: backupEligible. */
  backedUp?: boolean;
  /** 'increment' (default): +1 per assertion. 'none': always 0, like an authenticator without a counter. */
  counter?: 'increment' | 'none';
};

/** What a test can get wrong in one ceremony. */
export type CeremonyOverrides = {
  origin?: string;
  /** The RP ID whose hash goes into authenticatorData (default: the options' RP ID). */
  rpId?: string;
  /** The challenge put in clientDataJSON (default: the options'). */
  challenge?: string;
  /** clientDataJSON.type (default 'webauthn.create' / 'webauthn.get'). */
  type?: string;
  /** Flags to force on or off (the rest as the authenticator would set them). */
  flags?: Flags;
};

export type SoftCredential = {
  id: Buffer;
  rpId: string;
  /** Kept only by discoverable credentials (returned as userHandle in assertions). */
  userHandle: Buffer | null;
  discoverable: boolean;
  privateKey: KeyObject;
  publicKey: KeyObject;
  counter: number;
};

export type RegistrationJSON = {
  id: string;
  rawId: string;
  type: 'public-key';
  authenticatorAttachment: 'platform' | 'cross-platform';
  clientExtensionResults: Record<string, unknown>;
  response: {
    clientDataJSON: string;
    attestationObject: string;
    authenticatorData: string;
    transports: string[];
    publicKeyAlgorithm: number;
    publicKey: string;
  };
};

export type AssertionJSON = {
  id: string;
  rawId: string;
  type: 'public-key';
  authenticatorAttachment: 'platform' | 'cross-platform';
  clientExtensionResults: Record<string, unknown>;
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string };
};

type CreationOptions = {
  challenge: string;
  rp: { id?: string; name?: string };
  user: { id: string; name?: string; displayName?: string };
  excludeCredentials?: Array<{ id: string }>;
  authenticatorSelection?: { residentKey?: string; requireResidentKey?: boolean; userVerification?: string };
  extensions?: { credProps?: boolean };
};

type RequestOptions = {
  challenge: string;
  rpId?: string;
  allowCredentials?: Array<{ id: string }>;
  userVerification?: string;
};

const b64url = (b: Buffer) => b.toString('base64url');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();
const ES256 = -7;

// Minimal CBOR (RFC 8949) for attestation objects and COSE keys: unsigned and negative
// integers, byte and text strings, and maps, with keys in the order given (CTAP2 canonical
// order is the caller's business; the COSE key below is written in it).
type Cbor = number | string | Buffer | Map<number | string, Cbor>;

function cborHead(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value);
  if (typeof value === 'string') {
    const text = Buffer.from(value, 'utf8');
    return Buffer.concat([cborHead(3, text.length), text]);
  }
  if (Buffer.isBuffer(value)) return Buffer.concat([cborHead(2, value.length), value]);
  const parts = [cborHead(5, value.size)];
  for (const [k, v] of value) parts.push(cbor(k), cbor(v));
  return Buffer.concat(parts);
}

/** The credential public key as COSE_Key (RFC 9053): kty EC2, alg ES256, crv P-256, x, y. */
function coseKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  return cbor(
    new Map<number, Cbor>([
      [1, 2],
      [3, ES256],
      [-1, 1],
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]),
  );
}

function flagsByte(f: Required<Flags> & { at?: boolean }): number {
  return (f.up ? 0x01 : 0) | (f.uv ? 0x04 : 0) | (f.be ? 0x08 : 0) | (f.bs ? 0x10 : 0) | (f.at ? 0x40 : 0);
}

/** authenticatorData: rpIdHash | flags | signCount | [aaguid | credIdLen | credId | COSE key]. */
function authenticatorData(rpId: string, flags: Required<Flags>, counter: number, attested?: Buffer): Buffer {
  const head = Buffer.alloc(37);
  sha256(rpId).copy(head, 0);
  head[32] = flagsByte({ ...flags, at: attested !== undefined });
  head.writeUInt32BE(counter >>> 0, 33);
  return attested ? Buffer.concat([head, attested]) : head;
}

function clientData(type: string, challenge: string, origin: string): Buffer {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
}

/** What the browser throws when no credential can answer (NotAllowedError) or one is excluded (InvalidStateError). */
export class SoftAuthenticatorError extends Error {
  constructor(
    readonly name: 'NotAllowedError' | 'InvalidStateError',
    message: string,
  ) {
    super(message);
  }
}

export function createSoftAuthenticator(options: SoftAuthenticatorOptions, credentials: SoftCredential[] = []) {
  const settings = {
    aaguid: options.aaguid ?? Buffer.alloc(16),
    transports: options.transports ?? ['usb'],
    attachment: options.attachment ?? 'cross-platform',
    canVerify: options.userVerification ?? true,
    be: options.backupEligible ?? false,
    bs: options.backedUp ?? options.backupEligible ?? false,
    counter: options.counter ?? 'increment',
  };

  const flagsFor = (uvAsked: string | undefined, forced: Flags = {}): Required<Flags> => ({
    up: forced.up ?? true,
    uv: forced.uv ?? (settings.canVerify && (uvAsked === 'required' || uvAsked === 'preferred' || uvAsked === undefined)),
    be: forced.be ?? settings.be,
    bs: forced.bs ?? settings.bs,
  });

  function pick(rpId: string, allow: Array<{ id: string }> | undefined, wanted?: string): SoftCredential {
    const mine = credentials.filter((c) => c.rpId === rpId);
    const found = wanted
      ? credentials.find((c) => b64url(c.id) === wanted)
      : allow && allow.length > 0
        ? mine.find((c) => allow.some((a) => a.id === b64url(c.id)))
        : [...mine].reverse().find((c) => c.discoverable);
    if (!found) throw new SoftAuthenticatorError('NotAllowedError', `no credential for ${rpId} can answer these options`);
    return found;
  }

  return {
    credentials,

    /**
     * navigator.credentials.create(): a new ES256 credential for the options' RP and user.
     * `discoverable` overrides what the options' residentKey implies; `credProps: false` leaves
     * the credProps extension result out (as some browsers do); `credentialId` makes the new
     * credential use that id (one another account already holds, say).
     */
    register(
      creation: CreationOptions,
      overrides: CeremonyOverrides & { discoverable?: boolean; credProps?: boolean; credentialId?: Buffer } = {},
    ): RegistrationJSON {
      const rpId = creation.rp.id!;
      for (const ex of creation.excludeCredentials ?? []) {
        if (credentials.some((c) => c.rpId === rpId && b64url(c.id) === ex.id)) {
          throw new SoftAuthenticatorError('InvalidStateError', 'this authenticator already holds an excluded credential');
        }
      }
      const selection = creation.authenticatorSelection ?? {};
      const discoverable =
        overrides.discoverable ??
        (selection.requireResidentKey === true || selection.residentKey === 'required' || selection.residentKey === 'preferred');
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const id = overrides.credentialId ?? randomBytes(32);
      const credential: SoftCredential = {
        id,
        rpId,
        userHandle: discoverable ? Buffer.from(creation.user.id, 'base64url') : null,
        discoverable,
        privateKey,
        publicKey,
        counter: 0,
      };

      const flags = flagsFor(selection.userVerification, overrides.flags);
      const idLength = Buffer.alloc(2);
      idLength.writeUInt16BE(id.length);
      const attested = Buffer.concat([settings.aaguid, idLength, id, coseKey(publicKey)]);
      const authData = authenticatorData(overrides.rpId ?? rpId, flags, credential.counter, attested);
      const attestationObject = cbor(
        new Map<string, Cbor>([
          ['fmt', 'none'],
          ['attStmt', new Map()],
          ['authData', authData],
        ]),
      );
      const clientDataJSON = clientData(
        overrides.type ?? 'webauthn.create',
        overrides.challenge ?? creation.challenge,
        overrides.origin ?? options.origin,
      );
      credentials.push(credential);
      return {
        id: b64url(id),
        rawId: b64url(id),
        type: 'public-key',
        authenticatorAttachment: settings.attachment,
        clientExtensionResults: creation.extensions?.credProps && overrides.credProps !== false ? { credProps: { rk: discoverable } } : {},
        response: {
          clientDataJSON: b64url(clientDataJSON),
          attestationObject: b64url(attestationObject),
          authenticatorData: b64url(authData),
          transports: settings.transports,
          publicKeyAlgorithm: ES256,
          publicKey: b64url(publicKey.export({ format: 'der', type: 'spki' })),
        },
      };
    },

    /**
     * navigator.credentials.get(): an assertion by a credential allowed by the options (or, with
     * no allowCredentials, the newest discoverable one for the RP). `credentialId` picks one;
     * `counter` sets the counter reported (and kept); `userHandle` replaces the one returned
     * (null leaves it out); `tamper: 'signature'` signs other bytes than the ones sent, so the
     * signature is well formed but wrong.
     */
    assert(
      request: RequestOptions,
      overrides: CeremonyOverrides & { credentialId?: string; counter?: number; userHandle?: string | null; tamper?: 'signature' } = {},
    ): AssertionJSON {
      const rpId = request.rpId!;
      const credential = pick(rpId, request.allowCredentials, overrides.credentialId);
      if (overrides.counter !== undefined) credential.counter = overrides.counter;
      else if (settings.counter === 'increment') credential.counter += 1;

      const flags = flagsFor(request.userVerification, overrides.flags);
      const authData = authenticatorData(overrides.rpId ?? rpId, flags, credential.counter);
      const clientDataJSON = clientData(
        overrides.type ?? 'webauthn.get',
        overrides.challenge ?? request.challenge,
        overrides.origin ?? options.origin,
      );
      const signed = Buffer.concat([authData, sha256(clientDataJSON)]);
      if (overrides.tamper === 'signature') signed[signed.length - 1] ^= 0x01;
      // ECDSA with SHA-256 over authenticatorData || SHA-256(clientDataJSON), DER-encoded (WebAuthn §6.3.3).
      const signature = sign('sha256', signed, credential.privateKey);
      const handle = overrides.userHandle === undefined ? credential.userHandle && b64url(credential.userHandle) : overrides.userHandle;
      return {
        id: b64url(credential.id),
        rawId: b64url(credential.id),
        type: 'public-key',
        authenticatorAttachment: settings.attachment,
        clientExtensionResults: {},
        response: {
          clientDataJSON: b64url(clientDataJSON),
          authenticatorData: b64url(authData),
          signature: b64url(signature),
          ...(handle ? { userHandle: handle } : {}),
        },
      };
    },

    /** Another authenticator holding copies of the same keys and counters (a cloned security key). */
    clone() {
      return createSoftAuthenticator(
        options,
        credentials.map((c) => ({ ...c })),
      );
    },
  };
}

export type SoftAuthenticator = ReturnType<typeof createSoftAuthenticator>;
