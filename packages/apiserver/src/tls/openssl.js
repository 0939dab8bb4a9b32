import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
/** Runs the `openssl` CLI; Node can sign nothing itself, so certificate creation shells out. */
export function openssl(args, cwd) {
    return new Promise((resolve, reject) => {
        execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
            if (!err)
                return resolve();
            const code = err.code;
            const hint = code === 'ENOENT' ? ' (is the openssl CLI installed? `apt-get install -y openssl`)' : '';
            reject(new Error(`openssl ${args[0]} failed${hint}: ${String(stderr).trim() || err.message}`));
        });
    });
}
/** A DNS name acceptable in a subjectAltName (also keeps newlines and `=` out of the openssl config). */
const DNS_NAME = /^(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62}))*\.?$/;
/** Splits hosts into IP and DNS subjectAltNames, dropping duplicates; throws on anything else. */
export function classifyHosts(hosts) {
    const ips = new Set();
    const dns = new Set();
    for (const raw of hosts) {
        const h = raw.trim();
        if (h === '')
            continue;
        // Interface addresses may carry a zone (`fe80::1%eth0`); certificates cannot.
        const bare = h.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
        if (isIP(bare))
            ips.add(bare);
        else if (DNS_NAME.test(h) && h.length <= 253)
            dns.add(h.toLowerCase());
        else
            throw new Error(`invalid host for the serving certificate: ${JSON.stringify(raw)} (want a DNS name or an IP address)`);
    }
    return { ips: [...ips], dns: [...dns] };
}
/** A random positive 127-bit serial as hex; Go's crypto/x509 rejects negative serials. */
export function randomSerial() {
    const b = randomBytes(16);
    b[0] = (b[0] & 0x7f) | 0x01;
    return `0x${b.toString('hex')}`;
}
/**
 * The openssl config for a CA and a serving certificate. Modern clients (Go's
 * crypto/x509 in kubectl, Node's tls) insist on CA:TRUE + keyCertSign for the
 * CA and on serverAuth + SANs (never the CN) for the server.
 */
export function opensslConfig(san) {
    const alt = [...san.dns.map((d, i) => `DNS.${i + 1} = ${d}`), ...san.ips.map((ip, i) => `IP.${i + 1} = ${ip}`)];
    return [
        '[req]',
        'distinguished_name = dn',
        'prompt = no',
        '[dn]',
        'CN = flotilla',
        '[v3_ca]',
        'basicConstraints = critical, CA:TRUE',
        'keyUsage = critical, keyCertSign, cRLSign, digitalSignature',
        'subjectKeyIdentifier = hash',
        '[v3_server]',
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = serverAuth',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid, issuer',
        'subjectAltName = @alt_names',
        '[alt_names]',
        ...alt,
        '',
    ].join('\n');
}
//# sourceMappingURL=openssl.js.map