import { randomInt } from 'node:crypto';

/** The alphabet Kubernetes uses for generated name suffixes: no vowels (no words), no look-alikes. */
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** `generateName` plus 5 random characters, as Kubernetes' SimpleNameGenerator does. */
export function generateObjectName(base: string): string {
  // Kubernetes trims the base so the result still fits a 63-character name.
  const trimmed = base.length > 58 ? base.slice(0, 58) : base;
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += ALPHABET[randomInt(ALPHABET.length)];
  return trimmed + suffix;
}

/** Now as RFC 3339 with whole seconds (`2024-05-01T12:00:00Z`), the format of Kubernetes timestamps. */
export function rfc3339(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
