import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { CONTROLLER_NAMES, resolveControllers, run, type ControllerManagerConfig } from '@flotilla/controller-manager';
import { parseCidr } from '@flotilla/network';
import { createLogger } from '@flotilla/observability';
import { parseBool, parseDuration, parseSeconds } from '../flags.js';
import { runComponent } from '../run-component.js';
import { defaultStateDir } from '../state-dir.js';

interface ControllerManagerFlags {
  kubeconfig?: string;
  controllers: string[];
  leaderElect: boolean;
  identity?: string;
  leaseNamespace: string;
  leaseName: string;
  leaderElectLeaseDuration: number;
  leaderElectRenewDeadline: number;
  leaderElectRetryPeriod: number;
  metricsPort: number;
  metricsHost: string;
  nodeMonitorGracePeriod: number;
  defaultUnreachableTolerationSeconds: number;
  nodeProbeInterval?: number;
  nodeProbeGracePeriod: number;
  nodeProbes: boolean;
  allocateNodeCidrs: boolean;
  clusterCidr: string;
  nodeCidrMaskSize: number;
  maxEndpointsPerSlice: number;
  clusterSigningCertFile: string;
  clusterSigningKeyFile: string;
  clusterSigningDuration: number;
  logLevel?: string;
}

/** Parses a port, with -1 meaning "serve no metrics". */
function parseMetricsPort(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || n < -1 || n > 65535) throw new InvalidArgumentError('want a port number 0-65535, or -1 for none');
  return n;
}

/** Parses a whole number of seconds, 0 allowed. */
function parseNonNegativeInt(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('want a whole number of seconds');
  return Number(value);
}

/** Parses a CIDR flag (IPv4). */
function parseCidrFlag(value: string): string {
  if (!parseCidr(value)) throw new InvalidArgumentError('want an IPv4 CIDR like 10.244.0.0/16');
  return value;
}

/** Parses a prefix length 1-32. */
function parseMaskSize(value: string): number {
  const n = Number(value);
  if (!/^\d{1,2}$/.test(value) || n < 1 || n > 32) throw new InvalidArgumentError('want a prefix length 1-32');
  return n;
}

/** Parses a whole number of at least 1 (up to 1000, Kubernetes' limit per slice). */
function parseMaxPerSlice(value: string): number {
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > 1000) throw new InvalidArgumentError('want a whole number 1-1000');
  return Number(value);
}

/** Parses `--controllers`: a comma-separated list of names, `*`, `-name`. */
function parseControllers(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  try {
    resolveControllers(list);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return list;
}

/** `flotilla controller-manager`: the reconcilers (flags named as kube-controller-manager's). */
export function controllerManagerCommand(): Command {
  return new Command('controller-manager')
    .description(`run the control loops: ${CONTROLLER_NAMES.join(', ')}`)
    .option('--kubeconfig <file>', 'kubeconfig to reach the apiserver (default: $KUBECONFIG or ~/.kube/config)')
    .option('--controllers <list>', `controllers to run: names, * for all, -name to leave one out (${CONTROLLER_NAMES.join(', ')})`, parseControllers, ['*'])
    .option('--leader-elect [bool]', 'only the holder of the Lease runs controllers, so several can run (on by default, as in Kubernetes; --leader-elect=false for a lone instance that must act the moment it restarts)', parseBool, true)
    .option('--identity <name>', 'this instance in the Lease (default: <hostname>_<uuid>)')
    .option('--lease-namespace <ns>', 'namespace of the leader-election Lease', 'kube-system')
    .option('--lease-name <name>', 'name of the leader-election Lease', 'flotilla-controller-manager')
    .option('--leader-elect-lease-duration <duration>', 'how long a silent leader keeps the Lease', parseSeconds, 15)
    .option('--leader-elect-renew-deadline <duration>', 'a leader that cannot renew this long steps down', parseSeconds, 10)
    .option('--leader-elect-retry-period <duration>', 'pause between attempts to acquire or renew', parseSeconds, 2)
    .option('--metrics-port <port>', 'port of /metrics and /healthz (0: any free port, -1: none)', parseMetricsPort, 10257)
    .option('--metrics-host <ip>', 'address of /metrics and /healthz', '127.0.0.1')
    .option('--node-monitor-grace-period <duration>', 'silence before a node judged on its Lease (no liveness server answering) is Unknown; never shorter than the Lease\'s own duration (Kubernetes: 40s)', parseSeconds, 8)
    .option('--node-probe-interval <duration>', 'HTTP/2 PING period of each node\'s liveness server (the fast heartbeat, no etcd writes; default: a sixth of --node-probe-grace-period, 0.5s at its default)', parseSeconds)
    .option('--node-probe-grace-period <duration>', 'silence of a probed node before it is Unknown and tainted unreachable (six PING periods: a busy node answers late, not never)', parseSeconds, 3)
    .option('--no-node-probes', 'judge nodes on their Lease only (no liveness probes)')
    .option('--default-unreachable-toleration-seconds <n>', 'how long pods without their own toleration stay on an unreachable node (Kubernetes: 300)', parseNonNegativeInt, 1)
    .option('--allocate-node-cidrs [bool]', 'give every Node a pod range (spec.podCIDR) from --cluster-cidr', parseBool, true)
    .option('--cluster-cidr <cidr>', 'the cluster pod range node ranges are carved from', parseCidrFlag, '10.244.0.0/16')
    .option('--node-cidr-mask-size <bits>', 'prefix length of each node\'s pod range', parseMaskSize, 24)
    .option('--max-endpoints-per-slice <n>', 'endpoints per EndpointSlice before another is started', parseMaxPerSlice, 100)
    .option('--cluster-signing-cert-file <file>', 'cluster CA that signs node client certificates (csr-signing; skipped when the file is missing)', join(defaultStateDir('pki'), 'ca.crt'))
    .option('--cluster-signing-key-file <file>', 'key of --cluster-signing-cert-file', join(defaultStateDir('pki'), 'ca.key'))
    .option('--cluster-signing-duration <duration>', 'longest validity of a signed node certificate (a request may ask for less); agents renew at 70-90% of it', parseDuration, 8760 * 3_600_000)
    .option('--log-level <level>', 'pino log level (default: $FLOTILLA_LOG_LEVEL or info)')
    .action(async (flags: ControllerManagerFlags) => {
      const logger = createLogger('controller-manager', flags.logLevel ? { level: flags.logLevel } : {});
      const signing = existsSync(flags.clusterSigningCertFile) && existsSync(flags.clusterSigningKeyFile);
      if (!signing) logger.warn({ certFile: flags.clusterSigningCertFile, keyFile: flags.clusterSigningKeyFile }, 'no cluster CA to sign with: node certificate requests (bootstrap tokens) are not signed; pass --cluster-signing-cert-file and --cluster-signing-key-file');
      const config: ControllerManagerConfig = {
        controllers: flags.controllers,
        leaderElect: flags.leaderElect,
        leaseNamespace: flags.leaseNamespace,
        leaseName: flags.leaseName,
        // The Lease stores whole seconds.
        leaseDurationSeconds: Math.max(1, Math.round(flags.leaderElectLeaseDuration)),
        renewDeadlineSeconds: flags.leaderElectRenewDeadline,
        retryPeriodSeconds: flags.leaderElectRetryPeriod,
        metricsPort: flags.metricsPort,
        metricsHost: flags.metricsHost,
        nodeMonitorGracePeriodSeconds: flags.nodeMonitorGracePeriod,
        defaultUnreachableTolerationSeconds: flags.defaultUnreachableTolerationSeconds,
        nodeProbeIntervalSeconds: flags.nodeProbeInterval,
        nodeProbeGracePeriodSeconds: flags.nodeProbeGracePeriod,
        nodeProbes: flags.nodeProbes,
        allocateNodeCIDRs: flags.allocateNodeCidrs,
        clusterCIDR: flags.clusterCidr,
        nodeCIDRMaskSize: flags.nodeCidrMaskSize,
        maxEndpointsPerSlice: flags.maxEndpointsPerSlice,
        // Like kube-controller-manager on a kubeadm control plane: the apiserver's CA, read from its cert dir.
        ...(signing
          ? { clusterSigningCertFile: flags.clusterSigningCertFile, clusterSigningKeyFile: flags.clusterSigningKeyFile, clusterSigningDurationSeconds: Math.max(1, Math.round(flags.clusterSigningDuration / 1000)) }
          : {}),
        logger,
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        ...(flags.identity ? { identity: flags.identity } : {}),
      };
      await runComponent('controller-manager', run, config, logger);
    });
}
