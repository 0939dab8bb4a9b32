import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { classifyHosts, openssl, opensslConfig, randomSerial } from './openssl.js';
/** File names inside the cert dir, as kube-apiserver's --cert-dir uses them. */
export const CERT_FILES = {
    caCert: 'ca.crt',
    caKey: 'ca.key',
    servingCert: 'apiserver.crt',
    servingKey: 'apiserver.key',
};
const CA_DAYS = 3650;
const SERVING_DAYS = 365;
/** A serving cert closer than this to its expiry is reissued at start. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
/** The names every apiserver cert carries: loopback, this host, and the in-cluster service names. */
export function defaultHosts(includeInterfaces = true) {
    const hosts = [
        'localhost',
        '127.0.0.1',
        '::1',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
    ];
    try {
        const h = hostname();
        if (h)
            hosts.push(h);
    }
    catch {
        // No hostname is not a reason to refuse to start.
    }
    if (includeInterfaces) {
        for (const addrs of Object.values(networkInterfaces())) {
            for (const a of addrs ?? []) {
                // Link-local addresses need a zone and no client dials them.
                if (a.family === 'IPv6' && /^fe[89ab]/i.test(a.address))
                    continue;
                hosts.push(a.address);
            }
        }
    }
    return hosts;
}
async function readIfExists(path) {
    try {
        return await readFile(path, 'utf8');
    }
    catch (err) {
        if (err.code === 'ENOENT')
            return undefined;
        throw err;
    }
}
/** Writes atomically (temp file + rename) so a crash never leaves half a key. */
async function writeAtomic(path, data, mode) {
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, data, { mode });
    await chmod(tmp, mode);
    await rename(tmp, path);
}
function parseCert(pem, file) {
    try {
        return new X509Certificate(pem);
    }
    catch (err) {
        throw new Error(`${file}: not a PEM certificate: ${err.message}`);
    }
}
function checkPair(cert, keyPem, certFile, keyFile) {
    let key;
    try {
        key = createPrivateKey(keyPem);
    }
    catch (err) {
        throw new Error(`${keyFile}: not a PEM private key: ${err.message}`);
    }
    if (!cert.checkPrivateKey(key))
        throw new Error(`${keyFile} is not the private key of ${certFile}`);
}
/** The first requested host the cert does not cover, if any. */
function missingHost(cert, san) {
    for (const ip of san.ips)
        if (cert.checkIP(ip) === undefined)
            return ip;
    for (const d of san.dns)
        if (cert.checkHost(d, { subject: 'never', wildcards: false }) === undefined)
            return d;
    return undefined;
}
/** Why an existing serving cert cannot be reused, or undefined when it can. */
function staleReason(cert, keyPem, ca, san, files) {
    try {
        checkPair(cert, keyPem, ...files);
    }
    catch (err) {
        return err.message;
    }
    if (!cert.verify(ca.publicKey))
        return 'not signed by the current CA';
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS)
        return `expires ${cert.validTo}`;
    const missing = missingHost(cert, san);
    return missing ? `does not cover ${missing}` : undefined;
}
async function createCa(work, dir) {
    await writeFile(join(work, 'openssl.cnf'), opensslConfig({ ips: [], dns: [] }));
    // A unique subject per CA (as kube does with `<name>-ca@<unix>`) keeps two clusters' CAs apart.
    await openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256',
        '-days', String(CA_DAYS), '-set_serial', randomSerial(), '-subj', `/CN=flotilla-ca@${Math.floor(Date.now() / 1000)}`,
        '-config', 'openssl.cnf', '-extensions', 'v3_ca', '-keyout', 'ca.key', '-out', 'ca.crt'], work);
    // Key first: a crash between the renames leaves a key without a cert, which is reported, not half-trusted.
    await writeAtomic(join(dir, CERT_FILES.caKey), await readFile(join(work, 'ca.key'), 'utf8'), 0o600);
    await writeAtomic(join(dir, CERT_FILES.caCert), await readFile(join(work, 'ca.crt'), 'utf8'), 0o644);
}
async function issueServing(work, dir, san) {
    await writeFile(join(work, 'openssl.cnf'), opensslConfig(san));
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256',
        '-subj', '/CN=flotilla-apiserver', '-config', 'openssl.cnf', '-keyout', 'apiserver.key', '-out', 'apiserver.csr'], work);
    await openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', join(dir, CERT_FILES.caCert), '-CAkey', join(dir, CERT_FILES.caKey),
        '-set_serial', randomSerial(), '-days', String(SERVING_DAYS), '-sha256',
        '-extfile', 'openssl.cnf', '-extensions', 'v3_server', '-out', 'apiserver.crt'], work);
    await writeAtomic(join(dir, CERT_FILES.servingKey), await readFile(join(work, 'apiserver.key'), 'utf8'), 0o600);
    await writeAtomic(join(dir, CERT_FILES.servingCert), await readFile(join(work, 'apiserver.crt'), 'utf8'), 0o644);
}
/** Loads an operator-supplied serving pair (--tls-cert-file / --tls-private-key-file) and checks they match. */
export async function loadServingPair(certFile, keyFile) {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    checkPair(parseCert(cert, certFile), key, certFile, keyFile);
    return { cert, key };
}
/**
 * Makes sure a serving certificate exists, like kube-apiserver's --cert-dir:
 * on first start creates a cluster CA (ca.crt/ca.key) and a serving cert
 * signed by it; on later starts reuses both. The CA is never replaced (every
 * kubeconfig trusts it); the serving cert is reissued under the same CA when
 * it no longer covers a requested host, is close to expiry or is damaged.
 */
export async function ensureServingCerts(options) {
    const requested = [...defaultHosts(!options.skipInterfaceAddresses), ...(options.hosts ?? [])];
    const san = classifyHosts(requested);
    const hosts = [...san.dns, ...san.ips];
    if (options.tlsCertFile || options.tlsPrivateKeyFile) {
        if (!options.tlsCertFile || !options.tlsPrivateKeyFile) {
            throw new Error('--tls-cert-file and --tls-private-key-file must be given together');
        }
        const pair = await loadServingPair(options.tlsCertFile, options.tlsPrivateKeyFile);
        return { ...pair, certFile: resolve(options.tlsCertFile), keyFile: resolve(options.tlsPrivateKeyFile), action: 'provided', hosts };
    }
    const dir = resolve(options.certDir);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const path = (f) => join(dir, CERT_FILES[f]);
    let caPem = await readIfExists(path('caCert'));
    let caKeyPem = await readIfExists(path('caKey'));
    if ((caPem === undefined) !== (caKeyPem === undefined)) {
        const [has, lacks] = caPem === undefined ? [path('caKey'), path('caCert')] : [path('caCert'), path('caKey')];
        throw new Error(`found ${has} but not ${lacks}; restore it, or remove both to create a new cluster CA`);
    }
    const work = await mkdtemp(join(dir, '.tmp-'));
    try {
        let action = 'reused';
        let reason;
        if (caPem === undefined) {
            await createCa(work, dir);
            caPem = await readFile(path('caCert'), 'utf8');
            caKeyPem = await readFile(path('caKey'), 'utf8');
            action = 'created';
        }
        const ca = parseCert(caPem, path('caCert'));
        checkPair(ca, caKeyPem, path('caCert'), path('caKey'));
        if (!ca.ca)
            throw new Error(`${path('caCert')} is not a CA certificate (basicConstraints CA:FALSE)`);
        const certPem = await readIfExists(path('servingCert'));
        const keyPem = await readIfExists(path('servingKey'));
        if (action === 'created' || certPem === undefined || keyPem === undefined) {
            if (action !== 'created') {
                action = 'reissued';
                reason = 'serving cert or key missing';
            }
        }
        else {
            reason = staleReason(parseCert(certPem, path('servingCert')), keyPem, ca, san, [path('servingCert'), path('servingKey')]);
            if (reason)
                action = 'reissued';
        }
        if (action !== 'reused')
            await issueServing(work, dir, san);
        const cert = await readFile(path('servingCert'), 'utf8');
        const key = await readFile(path('servingKey'), 'utf8');
        return {
            cert, key, certFile: path('servingCert'), keyFile: path('servingKey'),
            ca: caPem, caFile: path('caCert'), action, hosts,
            ...(reason ? { reason } : {}),
        };
    }
    finally {
        await rm(work, { recursive: true, force: true });
    }
}
//# sourceMappingURL=serving-certs.js.map