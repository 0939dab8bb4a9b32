import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultStateDir } from '../state-dir.js';
import { Command, InvalidArgumentError } from 'commander';
import { run, type AgentRunConfig } from '@flotilla/agent';
import { memoryBytes } from '@flotilla/api';
import { createLogger } from '@flotilla/observability';
import { parseBool, parseDuration, parseIp, parsePort, parsePositiveInt } from '../flags.js';
import { runComponent } from '../run-component.js';

interface AgentFlags {
  rotateCertificates: boolean;
  nodeName: string;
  kubeconfig?: string;
  dockerHost?: string;
  stateDir: string;
  nodeIp?: string;
  podCidr?: string;
  podNetwork: 'flotilla' | 'docker-bridge';
  heartbeatInterval: number;
  nodeStatusInterval: number;
  nodeStatusReportInterval: number;
  leaseDuration?: number;
  livenessPort: number;
  livenessBindAddress?: string;
  relistInterval: number;
  syncFrequency: number;
  backoffInitial: number;
  backoffMax: number;
  backoffReset: number;
  cpus?: number;
  memory?: number;
  maxPods: number;
  logPort: number;
  logBindAddress?: string;
  fakeRuntime?: boolean;
  removePodsOnExit?: boolean;
  clusterDns?: string[];
  clusterDomain: string;
  resolvConf: string;
  logLevel?: string;
  bootstrapKubeconfig?: string;
  server?: string;
  bootstrapToken?: string;
  caFile?: string;
  discoveryTokenCaCertHash?: string[];
}

/** A port, or -1 for none. */
function parseLivenessPort(value: string): number {
  return value.trim() === '-1' ? -1 : parsePort(value);
}

/** Parses a comma-separated list of IP addresses (kubelet's --cluster-dns). */
function parseIpList(value: string, prev: string[] = []): string[] {
  return [...prev, ...value.split(',').map((s) => s.trim()).filter(Boolean).map(parseIp)];
}

function parsePodNetwork(value: string): 'flotilla' | 'docker-bridge' {
  if (value === 'flotilla' || value === 'docker-bridge') return value;
  throw new InvalidArgumentError('want flotilla or docker-bridge');
}

function parseMemory(value: string): number {
  try {
    return memoryBytes(value);
  } catch {
    throw new InvalidArgumentError('want a memory quantity like 4Gi or 512Mi');
  }
}

/** `flotilla agent`: the node agent (kubelet) that runs the node's pods on Docker. */
export function agentCommand(): Command {
  return new Command('agent')
    .description('run the node agent: register the Node, run its pods on Docker, heal them, serve their logs')
    .requiredOption('--node-name <name>', 'name of the Node this agent registers')
    .option('--kubeconfig <file>', 'kubeconfig with the node credential ($KUBECONFIG or ~/.kube/config by default)')
    .option('--docker-host <url>', 'Docker engine, e.g. unix:///var/run/docker.sock ($DOCKER_HOST or the local socket by default)')
    .option('--state-dir <dir>', 'where emptyDir volumes and the log server certificate live (created if missing)', defaultStateDir('agent'))
    .option('--node-ip <ip>', 'the node address (InternalIP); the first non-loopback IPv4 by default', parseIp)
    .option('--pod-cidr <cidr>', 'pod range of this node, written to spec.podCIDR')
    .option(
      '--pod-network <mode>',
      'flotilla: the node\'s podCIDR becomes a Docker network pods join, with host-gw routes to the other nodes (pods wait for the range); docker-bridge: the engine\'s default bridge, no routes (several agents sharing one engine in tests)',
      parsePodNetwork,
      'flotilla',
    )
    .option('--heartbeat-interval <duration>', 'Lease renewal period: the slow heartbeat (the fast one is the liveness server the controller-manager pings)', parseDuration, 60_000)
    .option('--lease-duration <duration>', 'leaseDurationSeconds written on the Lease [default: twice --heartbeat-interval, at least 40s]', parseDuration)
    .option('--node-status-interval <duration>', 'how often the Node status is recomputed (written only when it changed)', parseDuration, 10_000)
    .option('--node-status-report-interval <duration>', 'how often an unchanged Node status is written anyway (kubelet nodeStatusReportFrequency)', parseDuration, 600_000)
    .option('--liveness-port <port>', 'port of the liveness server the node-lifecycle controller pings over HTTP/2 (0: any free port, advertised on the Node; -1: none, Lease only)', parseLivenessPort, 10248)
    .option('--liveness-bind-address <ip>', 'address the liveness server listens on [default: --log-bind-address, else all]', parseIp)
    .option('--relist-interval <duration>', 'periodic relist of containers: pods whose containers changed are synced', parseDuration, 5_000)
    .option('--sync-frequency <duration>', 'every pod is synced at least this often even when nothing changed (kubelet --sync-frequency)', parseDuration, 60_000)
    .option('--backoff-initial <duration>', 'first crash back-off delay', parseDuration, 10_000)
    .option('--backoff-max <duration>', 'largest crash back-off delay', parseDuration, 300_000)
    .option('--backoff-reset <duration>', 'clean run after which the back-off starts over', parseDuration, 600_000)
    .option('--cpus <n>', 'CPU capacity to report instead of the host count', parsePositiveInt)
    .option('--memory <quantity>', 'memory capacity to report instead of the host total (e.g. 4Gi)', parseMemory)
    .option('--max-pods <n>', 'pod capacity', parsePositiveInt, 110)
    .option('--log-port <port>', 'HTTPS port of the node server: logs, exec, attach, port-forward, stats (0: any free port)', parsePort, 10250)
    .option('--log-bind-address <ip>', 'address the node server listens on (all by default)', parseIp)
    .option('--cluster-dns <ips>', 'cluster DNS server(s) for pods with dnsPolicy ClusterFirst, comma-separated (e.g. 10.96.0.10); pods get the host\'s resolvers without it', parseIpList)
    .option('--cluster-domain <domain>', 'cluster domain of the pods\' DNS search path', 'cluster.local')
    .option('--resolv-conf <file>', 'resolver config pods with dnsPolicy Default copy (\'\' for none)', '/etc/resolv.conf')
    .option('--fake-runtime', 'run pods in memory instead of Docker (hollow node)')
    .option('--remove-pods-on-exit', "remove every pod's containers when the agent stops (docker-compose down); a kubelet leaves them running")
    .option('--bootstrap-kubeconfig <file>', 'join with this bootstrap-token kubeconfig: the node gets its own certificate into --kubeconfig (default <state-dir>/kubeconfig)')
    .option('--bootstrap-token <token>', 'join with a bootstrap token (flotilla token create), with --server and --discovery-token-ca-cert-hash or --ca-file')
    .option('--server <url>', 'apiserver URL to join, e.g. https://10.0.0.1:6443')
    .option('--discovery-token-ca-cert-hash <sha256:hex>', 'trust the CA the server presents only if its public key has this hash (flotilla token ca-hash); repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--ca-file <file>', 'cluster CA certificate to trust instead of a pinned hash')
    .option('--rotate-certificates [bool]', "renew the node's client certificate while running, at 70-90% of its lifetime (the kubelet's --rotate-certificates)", parseBool, true)
    .option('--log-level <level>', 'pino log level (default: $FLOTILLA_LOG_LEVEL or info)')
    .action(async (f: AgentFlags) => {
      const logger = createLogger('agent', f.logLevel ? { level: f.logLevel } : {});
      await mkdir(f.stateDir, { recursive: true, mode: 0o700 });
      if (f.bootstrapToken && !f.server) throw new InvalidArgumentError('--bootstrap-token needs --server');
      if (f.bootstrapToken && !f.caFile && !f.discoveryTokenCaCertHash?.length) throw new InvalidArgumentError('--bootstrap-token needs --discovery-token-ca-cert-hash or --ca-file to trust the server');
      const joining = Boolean(f.bootstrapKubeconfig || f.bootstrapToken);
      // When joining, the node's own kubeconfig is written here and reused on every later start.
      const kubeconfig = f.kubeconfig ?? (joining ? join(f.stateDir, 'kubeconfig') : undefined);
      const config: AgentRunConfig = {
        nodeName: f.nodeName,
        stateDir: f.stateDir,
        logPort: f.logPort,
        heartbeatIntervalMs: f.heartbeatInterval,
        nodeStatusIntervalMs: f.nodeStatusInterval,
        nodeStatusReportIntervalMs: f.nodeStatusReportInterval,
        ...(f.leaseDuration !== undefined ? { leaseDurationSeconds: Math.max(1, Math.ceil(f.leaseDuration / 1000)) } : {}),
        ...(f.livenessPort >= 0 ? { livenessPort: f.livenessPort } : {}),
        ...(f.livenessBindAddress ? { livenessBindAddress: f.livenessBindAddress } : {}),
        relistIntervalMs: f.relistInterval,
        podResyncIntervalMs: f.syncFrequency,
        backoffInitialMs: f.backoffInitial,
        backoffMaxMs: f.backoffMax,
        backoffResetMs: f.backoffReset,
        maxPods: f.maxPods,
        fakeRuntime: Boolean(f.fakeRuntime),
        removePodsOnExit: Boolean(f.removePodsOnExit),
        clusterDNS: f.clusterDns ?? [],
        clusterDomain: f.clusterDomain.replace(/\.$/, ''),
        resolvConf: f.resolvConf,
        podNetwork: f.podNetwork === 'flotilla',
        rotateCertificates: f.rotateCertificates,
        logger,
        ...(kubeconfig ? { kubeconfig } : {}),
        ...(joining
          ? {
              bootstrap: {
                ...(f.bootstrapKubeconfig ? { bootstrapKubeconfig: f.bootstrapKubeconfig } : {}),
                ...(f.server ? { server: f.server } : {}),
                ...(f.bootstrapToken ? { token: f.bootstrapToken } : {}),
                ...(f.caFile ? { caFile: f.caFile } : {}),
                ...(f.discoveryTokenCaCertHash ? { caCertHashes: f.discoveryTokenCaCertHash } : {}),
              },
            }
          : {}),
        ...(f.dockerHost ? { dockerHost: f.dockerHost } : {}),
        ...(f.nodeIp ? { nodeIP: f.nodeIp } : {}),
        ...(f.podCidr ? { podCIDR: f.podCidr } : {}),
        ...(f.cpus ? { cpus: f.cpus } : {}),
        ...(f.memory ? { memoryBytes: f.memory } : {}),
        ...(f.logBindAddress ? { logBindAddress: f.logBindAddress } : {}),
      };
      await runComponent('agent', run, config, logger);
    });
}
