import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Values this process puts where others can read them (Redis), sealed: AES-256-GCM, with a key derived
 * (HKDF-SHA256) from a secret every replica already has in its configuration, for one purpose (`info`,
 * which names the provider and account), a random 12-byte IV per value, and the place it is stored at
 * as additional data, so that a value copied to another key does not open there either.
 *
 * Whoever reads Redis without the secret learns nothing but a value's length; whoever writes it can only
 * make a value fail to open, which its reader treats as absent.
 */
export class Sealer {
  private readonly key: Buffer;

  constructor(secret: string, info: string) {
    this.key = Buffer.from(hkdfSync('sha256', secret, SALT, info, 32));
  }

  /** `v1.<iv>.<ciphertext>.<tag>`, each base64url. */
  seal(plaintext: string, place: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(place, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The plaintext, or `undefined` when `sealed` is not a value sealed here for `place` (tampered, another key, another format). */
  open(sealed: string, place: string): string | undefined {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== 'v1') return undefined;
    const [iv, body, tag] = parts.slice(1).map((part) => Buffer.from(part, 'base64url'));
    if (iv?.length !== IV_BYTES || tag?.length !== TAG_BYTES || body === undefined) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(place, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Fixed: the secret is the key material; the salt only keeps these keys apart from any other use of it. */
const SALT = 'users-subgraph/sealed/v1';
