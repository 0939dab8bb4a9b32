/**
 * `flotilla agent`: builds the API client, the runtime (Docker, or the fake
 * one for hollow nodes), the log server's certificate and token reviewer,
 * then runs one Agent until the signal aborts.
 */
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { RestClient, loadKubeconfig } from '@flotilla/client';
import { createLogger, type Logger } from '@flotilla/observability';
import { Agent } from './agent.js';
import { ensureNodeCredential, type BootstrapOptions } from './bootstrap.js';
import { ClientCertificateRotator } from './cert-rotation.js';
import type { AgentConfig } from './config.js';
import { CachingTokenReviewer, type TokenReviewResponse } from './node-server.js';
import { DockerRuntime } from './runtime/docker-runtime.js';
import { FakeRuntime } from './runtime/fake-runtime.js';
import type { ContainerRuntime } from './runtime/types.js';
import { ensureSelfSignedCert, loadNodeCert, requestNodeCert } from './serving-cert.js';

/** Everything `flotilla agent` is configured with. */
export interface AgentRunConfig extends Omit<AgentConfig, 'nodeIP'> {
  /** The node's address; the first non-loopback IPv4 address when unset. */
  nodeIP?: string;
  /** Kubeconfig path ($KUBECONFIG or ~/.kube/config when unset). */
  kubeconfig?: string;
  /** Docker engine (`unix:///var/run/docker.sock` by default). */
  dockerHost?: string;
  /** Where emptyDirs and the log server's certificate live. */
  stateDir: string;
  /** Log server port (Kubernetes' kubelet port: 10250); 0 picks a free one. */
  logPort: number;
  /** Log server bind address; all addresses by default. */
  logBindAddress?: string;
  /** Use the in-memory runtime: pods "run" without Docker (hollow node). */
  fakeRuntime?: boolean;
  /**
   * On exit, remove every container of this node's pods. Not what a kubelet
   * does (a restarted agent adopts running pods); for `docker-compose down`,
   * where the agent is the last thing that knows which containers are its.
   */
  removePodsOnExit?: boolean;
  /** TLS bootstrapping: get (or renew) the node's own client certificate into `kubeconfig` before starting. */
  bootstrap?: BootstrapOptions;
  /** Renew a client-certificate credential while running, before it expires (the kubelet's --rotate-certificates). Default true. */
  rotateCertificates?: boolean;
}

/** Removes every pod (sandbox and containers) the runtime holds for this node; returns how many. */
export async function removeAllPods(runtime: ContainerRuntime, log: Logger): Promise<number> {
  const uids = new Set((await runtime.listContainers()).map((c) => c.podUid));
  await Promise.all(
    [...uids].map((uid) => runtime.removeSandbox(uid).catch((err: unknown) => log.warn({ podUid: uid, err: String(err) }, "could not remove the pod's containers"))),
  );
  log.info({ pods: uids.size }, 'removed the containers of every pod (--remove-pods-on-exit)');
  return uids.size;
}

/** The Docker network of the pod range (its bridge device is `flotilla0`). */
export const POD_NETWORK_NAME = 'flotilla';

/** The first non-internal IPv4 address of this host, else 127.0.0.1. */
export function defaultNodeIP(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** Runs the agent until `signal` aborts. */
export async function run(config: AgentRunConfig, signal: AbortSignal): Promise<void> {
  const log = config.logger ?? createLogger('agent');
  const nodeIP = config.nodeIP ?? defaultNodeIP();
  if (config.bootstrap) {
    if (!config.kubeconfig) throw new Error('bootstrapping needs the path of the node kubeconfig to write');
    await ensureNodeCredential(config.kubeconfig, config.nodeName, config.bootstrap, log);
  }
  const kubeconfig = loadKubeconfig(config.kubeconfig);
  // The cluster CA of the kubeconfig also signs the apiserver's client certificate: the node server trusts only it.
  if (!kubeconfig.ca) throw new Error('the kubeconfig carries no cluster CA (certificate-authority-data); the node server needs it to authenticate the apiserver');
  const clientCa = kubeconfig.ca;
  const client = new RestClient(kubeconfig, { userAgent: `flotilla-agent/${config.nodeName}` });
  const runtime: ContainerRuntime = config.fakeRuntime
    ? new FakeRuntime()
    : new DockerRuntime({
        stateDir: config.stateDir,
        nodeName: config.nodeName,
        logger: log,
        ...(config.dockerHost ? { host: config.dockerHost } : {}),
        ...(config.podNetwork ? { podNetwork: POD_NETWORK_NAME } : {}),
      });
  const pki = join(config.stateDir, 'pki');
  const stored = await loadNodeCert(pki, clientCa, config.nodeName, nodeIP);
  const tls = stored ?? (await ensureSelfSignedCert(pki, config.nodeName, nodeIP));
  const obtainCert = async () =>
    requestNodeCert(pki, clientCa, config.nodeName, nodeIP, async (csrPem) => {
      const res = await client.request<{ status?: { certificate?: string } }>({
        method: 'POST',
        path: '/apis/certificates.flotilla.io/v1/nodeservingcertificates',
        body: { apiVersion: 'certificates.flotilla.io/v1', kind: 'NodeServingCertificateRequest', spec: { request: Buffer.from(csrPem).toString('base64') } },
      });
      if (!res.status?.certificate) throw new Error('the apiserver answered without a certificate');
      return Buffer.from(res.status.certificate, 'base64').toString('utf8');
    });
  const reviewer = new CachingTokenReviewer((body) => client.request<TokenReviewResponse>({ method: 'POST', path: '/apis/authentication.k8s.io/v1/tokenreviews', body }));
  const agent = new Agent({
    // The fake runtime has no network to make: hollow nodes never wait for one.
    config: {
      ...config,
      nodeIP,
      logger: log,
      podNetwork: Boolean(config.podNetwork) && !config.fakeRuntime,
      // The liveness server listens where the log server does unless told otherwise.
      ...(config.livenessBindAddress ?? config.logBindAddress ? { livenessBindAddress: config.livenessBindAddress ?? config.logBindAddress } : {}),
    },
    client,
    runtime,
    nodeServer: { port: config.logPort, tls, clientCa, reviewer, ...(stored ? {} : { obtainCert }), ...(config.logBindAddress ? { host: config.logBindAddress } : {}) },
  });
  log.info({ node: config.nodeName, nodeIP, runtime: config.fakeRuntime ? 'fake' : (config.dockerHost ?? 'default docker socket'), stateDir: config.stateDir }, 'agent starting');
  // A certificate credential (TLS bootstrapping's) is renewed in place before it expires; a token one has nothing to rotate.
  const rotation = new AbortController();
  const onAbort = () => rotation.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const rotating =
    config.rotateCertificates !== false && config.kubeconfig && kubeconfig.clientCert
      ? new ClientCertificateRotator({ kubeconfig: config.kubeconfig, nodeName: config.nodeName, client, log }).run(rotation.signal)
      : Promise.resolve();
  try {
    await agent.run(signal);
  } finally {
    rotation.abort();
    signal.removeEventListener('abort', onAbort);
    await rotating;
    if (config.removePodsOnExit) await removeAllPods(runtime, log);
    await client.close();
  }
}
