import { defaultStateDir } from '../state-dir.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { apiServerWorkerNumber, apiServerWorkerPort, parsePortRange, parseServiceCidr, prepareApiServerFiles, run, runApiServerWorkers, stopWithFirstProcess, type ApiServerConfig } from '@flotilla/apiserver';
import { createLogger } from '@flotilla/observability';
import { parseDuration, parseIp, parsePort, parseUrlList } from '../flags.js';
import { runComponent } from '../run-component.js';

interface ApiServerFlags {
  etcdServers: string[];
  etcdPrefix: string;
  etcdCompactionInterval: number;
  eventTtl: number;
  bindAddress: string;
  securePort?: number;
  port?: number;
  certDir: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  tokenAuthFile: string;
  advertiseAddress?: string;
  tlsSan?: string[];
  logLevel?: string;
  serviceClusterIpRange: string;
  serviceNodePortRange: string;
  encryptionProviderConfig?: string;
  workers: number;
}

/** A commander parser that keeps the text after checking it with `parse`, reporting its message on failure. */
function checked(parse: (text: string) => { text: string }): (value: string) => string {
  return (value) => {
    try {
      return parse(value).text;
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

function parseWorkers(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError(`--workers must be a whole number from 1 to 64, got "${text}"`);
  return n;
}

/** `flotilla apiserver`: the Kubernetes-compatible API server (HTTPS only), flags named as kube-apiserver's. */
export function apiserverCommand(): Command {
  return new Command('apiserver')
    .description('serve the Kubernetes API over HTTPS, backed by etcd')
    .addOption(new Option('--etcd-servers <urls>', 'comma-separated etcd client URLs').argParser(parseUrlList).default(['http://127.0.0.1:2379'], 'http://127.0.0.1:2379'))
    .option('--etcd-prefix <prefix>', 'key prefix of every object in etcd', '/registry')
    .option('--etcd-compaction-interval <duration>', "compact etcd's history this often, keeping one interval of it (0: never; several apiservers on one etcd compact once between them)", parseDuration, 5 * 60_000)
    .option('--event-ttl <duration>', 'how long an Event is kept after its last change (0: for ever)', parseDuration, 60 * 60_000)
    .option('--bind-address <ip>', 'address to listen on', parseIp, '0.0.0.0')
    .option('--secure-port <port>', 'HTTPS port (0: any free port, logged at start) [default: 6443]', parsePort)
    .addOption(new Option('--port <port>', 'alias of --secure-port').argParser(parsePort).conflicts('securePort'))
    .option('--cert-dir <dir>', 'where the cluster CA and the serving cert are created and reused', defaultStateDir('pki'))
    .option('--tls-cert-file <file>', 'serve this certificate instead of one from --cert-dir')
    .option('--tls-private-key-file <file>', 'the private key of --tls-cert-file')
    .option('--tls-san <host>', 'extra DNS name or IP for the serving certificate (repeatable)', (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
    .requiredOption('--token-auth-file <file>', 'static token file: token,user,uid,"group1,group2" per line')
    .option('--advertise-address <ip>', 'address clients reach this apiserver at (added to the certificate)', parseIp)
    .option('--service-cluster-ip-range <cidr>', 'IPv4 CIDR that Service cluster IPs come from; its first address is the kubernetes Service\'s', checked(parseServiceCidr), '10.96.0.0/16')
    .option('--service-node-port-range <range>', 'ports that NodePort Services get', checked(parsePortRange), '30000-32767')
    .option('--encryption-provider-config <file>', 'EncryptionConfiguration (aesgcm/identity providers) for data at rest [default: generated in --cert-dir, encrypting secrets]')
    .option('--workers <n>', 'apiserver processes serving the one address (each a whole apiserver on the same etcd, as several apiservers are; /metrics sums them)', parseWorkers, 1)
    .option('--log-level <level>', 'pino log level (default: $FLOTILLA_LOG_LEVEL or info)')
    .action(async (flags: ApiServerFlags) => {
      const worker = apiServerWorkerNumber();
      if (worker) stopWithFirstProcess();
      const base = createLogger('apiserver', flags.logLevel ? { level: flags.logLevel } : {});
      const logger = worker ? base.child({ worker }) : base;
      const config: ApiServerConfig = {
        etcdServers: flags.etcdServers,
        etcdPrefix: flags.etcdPrefix,
        etcdCompactionIntervalMs: flags.etcdCompactionInterval,
        eventTtlMs: flags.eventTtl,
        bindAddress: flags.bindAddress,
        securePort: apiServerWorkerPort() ?? flags.securePort ?? flags.port ?? 6443,
        certDir: flags.certDir,
        tokenAuthFile: flags.tokenAuthFile,
        extraSans: flags.tlsSan ?? [],
        logger,
        ...(flags.tlsCertFile ? { tlsCertFile: flags.tlsCertFile } : {}),
        ...(flags.tlsPrivateKeyFile ? { tlsPrivateKeyFile: flags.tlsPrivateKeyFile } : {}),
        ...(flags.advertiseAddress ? { advertiseAddress: flags.advertiseAddress } : {}),
        serviceClusterIPRange: flags.serviceClusterIpRange,
        serviceNodePortRange: flags.serviceNodePortRange,
        ...(flags.encryptionProviderConfig ? { encryptionProviderConfig: flags.encryptionProviderConfig } : {}),
      };
      if (worker || flags.workers <= 1) await runComponent('apiserver', run, config, logger);
      else await runComponent('apiserver', (c: ApiServerConfig, signal: AbortSignal) => runApiServerWorkers(flags.workers, { host: c.bindAddress, port: c.securePort }, async () => void (await prepareApiServerFiles(c, logger)), logger, signal), config, logger);
    });
}
