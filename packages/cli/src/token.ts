import { randomBytes } from 'node:crypto';

/** A random bearer token: base64url, so it is safe in a token file's CSV and in an HTTP header. */
export function generateToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
