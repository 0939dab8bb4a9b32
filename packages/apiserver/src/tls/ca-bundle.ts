import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** A CA bundle as a kubeconfig carries it. */
export interface CaBundle {
  /** The PEM text: one or more certificates. */
  pem: string;
  /** Base64 of the PEM, the value of `clusters[].cluster.certificate-authority-data`. */
  data: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Checks PEM text holds only CA certificates and returns it as a kubeconfig-ready bundle; `source` names it in errors. */
export function caBundleFromPem(pem: string, source = 'CA bundle'): CaBundle {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error(`${source}: no PEM certificate found`);
  for (const [i, block] of blocks.entries()) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      throw new Error(`${source}: certificate ${i + 1} does not parse: ${(err as Error).message}`);
    }
    // A leaf here would make clients fail later with a confusing "unknown authority".
    if (!cert.ca) throw new Error(`${source}: certificate ${i + 1} (${cert.subject}) is not a CA certificate`);
  }
  const normalized = blocks.join('\n') + '\n';
  return { pem: normalized, data: Buffer.from(normalized).toString('base64') };
}

/** Reads a CA file (e.g. `<cert-dir>/ca.crt`) into a kubeconfig-ready bundle. */
export async function readCaBundle(file: string): Promise<CaBundle> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read CA file ${file}: ${(err as Error).message}`);
  }
  return caBundleFromPem(pem, file);
}
