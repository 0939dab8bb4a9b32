/** Runs the `openssl` CLI; Node can sign nothing itself, so certificate creation shells out. */
export declare function openssl(args: string[], cwd: string): Promise<void>;
/** Splits hosts into IP and DNS subjectAltNames, dropping duplicates; throws on anything else. */
export declare function classifyHosts(hosts: string[]): {
    ips: string[];
    dns: string[];
};
/** A random positive 127-bit serial as hex; Go's crypto/x509 rejects negative serials. */
export declare function randomSerial(): string;
/**
 * The openssl config for a CA and a serving certificate. Modern clients (Go's
 * crypto/x509 in kubectl, Node's tls) insist on CA:TRUE + keyCertSign for the
 * CA and on serverAuth + SANs (never the CN) for the server.
 */
export declare function opensslConfig(san: {
    ips: string[];
    dns: string[];
}): string;
//# sourceMappingURL=openssl.d.ts.map