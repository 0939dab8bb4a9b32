import { mkdir } from 'node:fs/promises';
import { defaultStateDir } from '../state-dir.js';
import { Command, InvalidArgumentError } from 'commander';
import { run, type AgentRunConfig } from '@flotilla/agent';
import { memoryBytes } from '@flotilla/api';
import { createLogger } from '@flotilla/observability';
import { parseDuration, parseIp, parsePort, parsePositiveInt } from '../flags.js';
import { runComponent } from '../run-component.js';

interface AgentFlags {
  nodeName: string;
  kubeconfig?: string;
  dockerHost?: string;
  stateDir: string;
  nodeIp?: string;
  podCidr?: string;
  podNetwork: 'flotilla' | 'docker-bridge';
  heartbeatInterval: number;
  nodeStatusInterval: number;
  relistInterval: number;
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
    .option('--heartbeat-interval <duration>', 'Lease renewal period (keep it well under the controller-manager\'s --node-monitor-grace-period, 8s by default)', parseDuration, 2_000)
    .option('--node-status-interval <duration>', 'Node status refresh period', parseDuration, 10_000)
    .option('--relist-interval <duration>', 'periodic relist of pods and containers', parseDuration, 5_000)
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
    .option('--log-level <level>', 'pino log level (default: $FLOTILLA_LOG_LEVEL or info)')
    .action(async (f: AgentFlags) => {
      const logger = createLogger('agent', f.logLevel ? { level: f.logLevel } : {});
      await mkdir(f.stateDir, { recursive: true, mode: 0o700 });
      const config: AgentRunConfig = {
        nodeName: f.nodeName,
        stateDir: f.stateDir,
        logPort: f.logPort,
        heartbeatIntervalMs: f.heartbeatInterval,
        nodeStatusIntervalMs: f.nodeStatusInterval,
        relistIntervalMs: f.relistInterval,
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
        logger,
        ...(f.kubeconfig ? { kubeconfig: f.kubeconfig } : {}),
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
