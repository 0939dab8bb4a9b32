/**
 * A cluster whose Services carry traffic, for the proxy's integration
 * tests and the network benchmark: worker hosts of scripts/hosts.sh (createHosts), the control plane
 * and a real agent per host (startCluster), a `flotilla proxy` in every
 * host's network namespace (default chains, KUBE-*) and one in the root
 * namespace (its own chain prefix and NodePorts only on the bridge address,
 * since the root namespace is shared with everything else on the machine).
 *
 * Containment: the apiserver hands out ClusterIPs from a /24 of its own
 * inside 10.96.0.0/12 and NodePorts from a window of its own. Before any
 * traffic, that range is routed to a sink (a bridge with no ports: an
 * unmatched packet dies there) in the root namespace (just the /24, so
 * other tests' routes are untouched) and in every host (the whole /12).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from '@flotilla/api';
import { statusPortReady, superviseProcess, type SupervisedProcess } from './child-process.js';
import { startCluster, type TestCluster } from './cluster.js';
import { flotillaBin, repoRoot } from './env.js';
import { freePort } from './free-port.js';
import { createHosts, removePodContainers, run, type Host, type HostCluster } from './hosts.js';
import { writeKubeconfig } from './kubeconfig.js';
import { waitFor } from './wait-for.js';

/** One `flotilla proxy` process, in a host's namespace or the root one. */
export class ProxyProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private log = '';

  constructor(
    readonly name: string,
    private readonly argv: string[],
    /** The network namespace, or undefined for the root one. */
    readonly netns: string | undefined,
    /** http://host:port of /metrics and /healthz. */
    readonly statusUrl: string,
  ) {}

  /** Flags added to every later start (e.g. `--no-report-applied`). */
  extraArgs: string[] = [];

  /** Starts it and waits until its first sync is done. */
  async start(): Promise<void> {
    const bin = process.execPath;
    const args = [flotillaBin(), 'proxy', ...this.argv, ...this.extraArgs];
    const [file, full] = this.netns ? ['nsenter', [`--net=/var/run/netns/${this.netns}`, '--', bin, ...args]] : [bin, args];
    this.log += `--- start ${new Date().toISOString()}: ${full.join(' ')}\n`;
    const child = spawn(file, full, { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d) => (this.log = (this.log + d).slice(-2_000_000)));
    child.stderr!.on('data', (d) => (this.log = (this.log + d).slice(-2_000_000)));
    this.exited = new Promise((resolve) => child.once('exit', (code, sig) => ((this.log += `--- exited ${sig ?? code}\n`), resolve())));
    try {
      await waitFor(async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`proxy ${this.name} exited`);
        return (await this.metric('kubeproxy_sync_proxy_rules_last_timestamp_seconds')) > 0;
      }, { timeout: 90_000, message: `proxy ${this.name} to sync` });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- proxy ${this.name} output:\n${this.log.slice(-4000)}`);
    }
  }

  /** Sends a signal and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }

  running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): string {
    return this.log;
  }

  /** The summed value of a metric (0 when absent). */
  async metric(name: string): Promise<number> {
    const text = await httpGet(`${this.statusUrl}/metrics`, 2_000);
    let sum = 0;
    for (const line of text.body.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.split(' ').at(-1));
    return sum;
  }
}

/** GET over a fresh connection; rejects on errors and timeouts. */
export function httpGet(url: string, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    // The local port says which conntrack entry to look at when a connect hangs.
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${url} (from local port ${req.socket?.localPort ?? '?'})`)));
    req.on('error', reject);
    req.end();
  });
}

/** What an echo pod answers. */
export interface EchoAnswer {
  pod: string;
  message?: string;
}

/** Options of startServiceEnv. */
export interface ServiceEnvOptions {
  /** Worker hosts (default 3); an agent and a proxy run on the first `withAgents` of them. */
  hosts?: number;
  withAgents?: number;
  /** createHosts prefix. */
  prefix?: string;
  /** More controller-manager flags. */
  controllerManagerArgs?: string[];
  /** etcd endpoints of the apiserver (a test's own, e.g. one it kills); the test etcd by default. */
  etcd?: string[];
  /**
   * Run `flotilla dns` on the hosts' bridge (port 53, no forwarding) as the
   * kube-dns Service's endpoint, at the 10th address of the service range,
   * and give the agents --cluster-dns: pods then resolve names through the
   * ClusterIP the proxies DNAT. Default false.
   */
  dns?: boolean;
}

/** The running environment. */
export interface ServiceEnv {
  hosts: HostCluster;
  cluster: TestCluster;
  /** Proxies by host name (`h1` …) and `root`. */
  proxies: Map<string, ProxyProcess>;
  /** The root namespace's proxy's chain prefix. */
  rootPrefix: string;
  /** The ClusterIP range the apiserver hands out (a /24). */
  serviceCIDR: string;
  /** The NodePort window, inclusive. */
  nodePorts: [number, number];
  /** The kube-dns ClusterIP pods are given (set with `dns`). */
  clusterDNS?: string;
  /** Starts the proxy of a host (it must not run yet). */
  startProxy(host: Host): Promise<ProxyProcess>;
  /** Runs a command in a pod's first container (docker exec on its host's engine). */
  execInPod(pod: Pod, argv: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The host a pod runs on. */
  hostOf(pod: Pod): Host;
  dumpLogs(): string;
  stop(): Promise<void>;
}

/** Adds the sink route for `cidr`, run through `exec` (a host's, or the root namespace's). */
async function addSink(exec: (argv: string[]) => Promise<{ code: number; stderr: string }>, bridge: string, cidr: string): Promise<void> {
  for (const argv of [['ip', 'link', 'add', bridge, 'type', 'bridge'], ['ip', 'link', 'set', bridge, 'up'], ['ip', 'route', 'replace', cidr, 'dev', bridge]]) {
    const r = await exec(argv);
    if (r.code !== 0 && !/File exists/.test(r.stderr)) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  }
}

/** Starts hosts, control plane, agents and proxies; everything is stopped and removed by stop(), also on a failed start. */
export async function startServiceEnv(options: ServiceEnvOptions = {}): Promise<ServiceEnv> {
  const n = options.hosts ?? 3;
  const withAgents = options.withAgents ?? n;
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-proxy-e2e-'));
  const serviceCIDR = `10.96.${randomInt(1, 255)}.0/24`;
  const npBase = 30000 + randomInt(0, 13) * 200;
  const nodePorts: [number, number] = [npBase, npBase + 199];
  const rootPrefix = `KT${randomBytes(2).toString('hex').toUpperCase().slice(0, 3)}`;
  const rootSink = `ks${randomBytes(3).toString('hex')}`;
  const proxies = new Map<string, ProxyProcess>();
  const rootExec = (argv: string[]) => run(argv[0]!, argv.slice(1));
  // Kubernetes' convention: the 10th address of the service range.
  const clusterDNS = options.dns ? serviceCIDR.replace(/\.0\/24$/, '.10') : undefined;
  let dns: SupervisedProcess | undefined;
  let hosts: HostCluster | undefined;
  let cluster: TestCluster | undefined;
  let rootSinkMade = false;

  const stop = async () => {
    await Promise.all([...proxies.values()].map((p) => p.kill('SIGTERM').catch(() => undefined)));
    await dns?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    await removePodContainers(hosts);
    await hosts?.delete().catch((err: unknown) => console.error(`hosts delete: ${(err as Error).message}`));
    // The root namespace's rules, chains and sink are ours to remove (a real proxy never removes its rules).
    await removeRootRules(rootPrefix).catch((err: unknown) => console.error(`root rules cleanup: ${(err as Error).message}`));
    if (rootSinkMade) await run('ip', ['link', 'del', rootSink]);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    hosts = await createHosts(n, { prefix: options.prefix ?? 'px' });
    const h = hosts;
    // The sinks go in before anything can send to a ClusterIP.
    await addSink(rootExec, rootSink, serviceCIDR);
    rootSinkMade = true;
    for (const host of h.hosts) await addSink((argv) => host.exec(argv), 'svcsink', '10.96.0.0/12');

    cluster = await startCluster({
      // The agents run inside their hosts' namespaces (the pod network and its routes are theirs).
      clusterCIDR: h.podCIDR,
      nodes: h.hosts.slice(0, withAgents).map((x, i) => ({ name: `node-${i + 1}`, docker: { host: x.dockerHost, nodeIP: x.ip, netns: x.netns } })),
      agentArgs: ['--backoff-initial', '1s', '--backoff-max', '5s', ...(clusterDNS ? ['--cluster-dns', clusterDNS, '--cluster-domain', 'cluster.local'] : [])],
      controllerManagerArgs: options.controllerManagerArgs ?? [],
      apiserver: {
        // Reachable from the hosts' namespaces (the proxies run there) at the bridge address.
        bindAddress: h.gateway,
        ...(options.etcd ? { etcd: options.etcd } : {}),
        extraArgs: ['--service-cluster-ip-range', serviceCIDR, '--service-node-port-range', `${nodePorts[0]}-${nodePorts[1]}`],
      },
    });
    const c = cluster;
    const kubeconfig = join(dir, 'proxy.kubeconfig');
    await writeKubeconfig(kubeconfig, { server: `https://${h.gateway}:${c.api.port}`, caPem: c.api.caPem, token: c.api.adminToken, user: 'proxy', cluster: 'flotilla-e2e' });
    const common = ['--kubeconfig', kubeconfig, '--cluster-cidr', '10.244.0.0/16', '--min-sync-period', '0.05', '--sync-period', '30', '--log-level', 'debug'];
    const startProxy = async (host: Host) => {
      const p = new ProxyProcess(host.name, [...common, '--hostname-override', `node-${host.index}`, '--node-ip', host.ip, '--metrics-bind-address', `${host.ip}:10249`], host.netns, `http://${host.ip}:10249`);
      proxies.set(host.name, p);
      await p.start();
      return p;
    };
    const rootPort = await freePort();
    const root = new ProxyProcess('root', [...common, '--hostname-override', `root-${rootPrefix.toLowerCase()}`, '--chain-prefix', rootPrefix, '--nodeport-addresses', `${h.gateway}/32`, '--metrics-bind-address', `127.0.0.1:${rootPort}`], undefined, `http://127.0.0.1:${rootPort}`);
    proxies.set('root', root);
    await Promise.all([root.start(), ...h.hosts.slice(0, withAgents).map(startProxy)]);
    if (clusterDNS) {
      dns = superviseProcess({
        name: 'dns',
        readyMessage: 'flotilla dns to serve',
        readyTimeout: 30_000,
        stopGraceMs: 10_000,
        incarnation: async () => ({
          args: [flotillaBin(), 'dns', '--kubeconfig', c.api.kubeconfigPath, '--bind-address', h.gateway, '--port', '53', '--cluster-dns', clusterDNS, '--no-forward', '--metrics-port', '0'],
          command: `flotilla dns --bind-address ${h.gateway} --cluster-dns ${clusterDNS}`,
          ready: statusPortReady,
        }),
      });
      await dns.launch();
    }

    const hostOf = (pod: Pod) => {
      const i = Number(pod.spec?.nodeName?.replace('node-', ''));
      const host = h.hosts[i - 1];
      if (!host) throw new Error(`pod ${pod.metadata.name} is on no known host (${pod.spec?.nodeName})`);
      return host;
    };
    return {
      hosts: h,
      cluster: c,
      proxies,
      rootPrefix,
      serviceCIDR,
      nodePorts,
      ...(clusterDNS ? { clusterDNS } : {}),
      startProxy,
      hostOf,
      async execInPod(pod, argv, timeoutMs = 60_000) {
        const host = hostOf(pod);
        const ids = (await host.docker(['ps', '-q', '--filter', `label=io.flotilla.pod.uid=${pod.metadata.uid}`, '--filter', 'label=io.flotilla.type=container'])).split('\n').filter(Boolean);
        if (!ids[0]) throw new Error(`no running container of pod ${pod.metadata.name}`);
        return run('docker', ['-H', host.dockerHost, 'exec', ids[0], ...argv], { timeout: timeoutMs });
      },
      dumpLogs() {
        return [c.dumpLogs(), ...[...proxies.values()].map((p) => `=== proxy ${p.name}\n${p.logs().slice(-16_000)}`), ...(dns ? [`=== dns\n${dns.logs().slice(-8_000)}`] : [])].join('\n');
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Deletes the root namespace's jumps and chains of `prefix` (test cleanup only). */
export async function removeRootRules(prefix: string): Promise<void> {
  for (const table of ['nat', 'filter'] as const) {
    const save = await run('iptables-save', ['-t', table]);
    // Jumps from the built-in chains first, then our chains (flushed, then deleted).
    for (const line of save.stdout.split('\n')) {
      const m = /^-A (PREROUTING|OUTPUT|POSTROUTING|INPUT|FORWARD) (.*-j (\S+))$/.exec(line);
      if (m && m[3]!.startsWith(`${prefix}-`)) await run('sh', ['-c', `iptables -w 5 -t ${table} -D ${m[1]} ${m[2]}`]);
    }
    const chains = save.stdout.split('\n').filter((l) => l.startsWith(`:${prefix}-`)).map((l) => l.slice(1).split(' ')[0]!);
    if (chains.length) {
      const text = [`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
      await new Promise<void>((resolve) => {
        const p = spawn('iptables-restore', ['-w', '5', '--noflush'], { stdio: ['pipe', 'ignore', 'inherit'] });
        p.on('close', () => resolve());
        // A restore that fails at once closes the pipe under the write; its exit is what counts here.
        p.stdin.on('error', () => undefined);
        p.stdin.end(text);
      });
    }
  }
}
