import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotationDeadline } from './cert-rotation.js';

let dir = '';
let pem = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cert-rotation-test-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '10', '-subj', '/CN=system:node:w1'], { cwd: dir, stdio: 'pipe' });
  pem = readFileSync(join(dir, 'c.pem'), 'utf8');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rotationDeadline', () => {
  it("is 70% to 90% into the certificate's lifetime, by the jitter", () => {
    const c = new X509Certificate(pem);
    const from = Date.parse(c.validFrom);
    const life = Date.parse(c.validTo) - from;
    expect(rotationDeadline(pem, () => 0)).toBe(from + 0.7 * life);
    expect(rotationDeadline(pem, () => 0.5)).toBe(from + 0.8 * life);
    expect(rotationDeadline(pem, () => 0.999999)).toBeCloseTo(from + 0.9 * life, -3);
  });
});
