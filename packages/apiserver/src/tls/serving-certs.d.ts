/** File names inside the cert dir, as kube-apiserver's --cert-dir uses them. */
export declare const CERT_FILES: {
    readonly caCert: "ca.crt";
    readonly caKey: "ca.key";
    readonly servingCert: "apiserver.crt";
    readonly servingKey: "apiserver.key";
};
/** Options of ensureServingCerts. */
export interface ServingCertOptions {
    /** Where the CA and the serving pair live; created if missing. */
    certDir: string;
    /** Extra DNS names and IPs for the serving cert (advertise address, load balancer name, …). */
    hosts?: string[];
    /** Serve this certificate instead of one from certDir (with tlsPrivateKeyFile). */
    tlsCertFile?: string;
    /** The key of tlsCertFile. */
    tlsPrivateKeyFile?: string;
    /** Leave out the machine's own interface addresses (tests that want exact SANs). */
    skipInterfaceAddresses?: boolean;
}
/** What ensureServingCerts did with the files it found. */
export type ServingCertAction = 'created' | 'reissued' | 'reused' | 'provided';
/** A serving key pair ready for `https.createServer`, and the CA clients should trust. */
export interface ServingCerts {
    cert: string;
    key: string;
    certFile: string;
    keyFile: string;
    /** PEM of the cluster CA; undefined when the operator supplied the serving pair. */
    ca?: string;
    caFile?: string;
    action: ServingCertAction;
    /** Why a serving cert was reissued. */
    reason?: string;
    /** The subjectAltNames the serving cert was asked to carry. */
    hosts: string[];
}
/** The names every apiserver cert carries: loopback, this host, and the in-cluster service names. */
export declare function defaultHosts(includeInterfaces?: boolean): string[];
/** Loads an operator-supplied serving pair (--tls-cert-file / --tls-private-key-file) and checks they match. */
export declare function loadServingPair(certFile: string, keyFile: string): Promise<{
    cert: string;
    key: string;
}>;
/**
 * Makes sure a serving certificate exists, like kube-apiserver's --cert-dir:
 * on first start creates a cluster CA (ca.crt/ca.key) and a serving cert
 * signed by it; on later starts reuses both. The CA is never replaced (every
 * kubeconfig trusts it); the serving cert is reissued under the same CA when
 * it no longer covers a requested host, is close to expiry or is damaged.
 */
export declare function ensureServingCerts(options: ServingCertOptions): Promise<ServingCerts>;
//# sourceMappingURL=serving-certs.d.ts.map