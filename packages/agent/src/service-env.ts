/**
 * The Kubernetes service environment variables of a container, as the
 * kubelet builds them (getServiceEnvVarMap + envvars.FromServices): for
 * every Service with a ClusterIP in the pod's namespace (only when
 * `enableServiceLinks` is not false), and always for the `kubernetes`
 * Service of `default`:
 *
 *   WEB_SERVICE_HOST=10.96.0.20   WEB_SERVICE_PORT=80   WEB_SERVICE_PORT_HTTP=80
 *   WEB_PORT=tcp://10.96.0.20:80  WEB_PORT_80_TCP=tcp://10.96.0.20:80
 *   WEB_PORT_80_TCP_PROTO=tcp     WEB_PORT_80_TCP_PORT=80   WEB_PORT_80_TCP_ADDR=10.96.0.20
 *
 * Headless and ExternalName Services have no ClusterIP and give none. The
 * container's own env comes after these, so it overrides them and may use
 * them in `$(VAR)` references.
 */
import type { Pod, Service } from '@flotilla/api';

/** The namespace and name of the Service whose variables every pod gets. */
const MASTER_NAMESPACE = 'default';
const MASTER_SERVICES = new Set(['kubernetes']);

/** `my-svc` → `MY_SVC`. */
function envName(s: string): string {
  return s.toUpperCase().replace(/-/g, '_');
}

function hasClusterIP(svc: Service): boolean {
  const ip = svc.spec?.clusterIP;
  return ip !== undefined && ip !== '' && ip !== 'None';
}

/** The Services whose variables `pod` gets, sorted by name (a same-named Service in the pod's namespace wins). */
export function servicesForPod(pod: Pod, services: Iterable<Service>): Service[] {
  const ns = pod.metadata.namespace ?? 'default';
  const links = pod.spec?.enableServiceLinks !== false;
  const byName = new Map<string, Service>();
  for (const svc of services) {
    if (!hasClusterIP(svc)) continue;
    const name = svc.metadata.name ?? '';
    if (svc.metadata.namespace === ns && links) byName.set(name, svc);
    else if (svc.metadata.namespace === MASTER_NAMESPACE && MASTER_SERVICES.has(name) && !byName.has(name)) byName.set(name, svc);
  }
  return [...byName.values()].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
}

/** The variables of a list of Services, in the kubelet's order. */
export function serviceEnvVars(services: Service[]): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (const svc of services) {
    if (!hasClusterIP(svc)) continue;
    const ports = svc.spec?.ports ?? [];
    const ip = svc.spec!.clusterIP!;
    const addr = ip.includes(':') ? `[${ip}]` : ip;
    const prefix = envName(svc.metadata.name ?? '');
    out.push({ name: `${prefix}_SERVICE_HOST`, value: ip });
    if (ports.length > 0) out.push({ name: `${prefix}_SERVICE_PORT`, value: String(ports[0]!.port) });
    for (const p of ports) if (p.name) out.push({ name: `${prefix}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port) });
    ports.forEach((p, i) => {
      const proto = (p.protocol ?? 'TCP').toLowerCase();
      const url = `${proto}://${addr}:${p.port}`;
      const base = `${prefix}_PORT_${p.port}_${proto.toUpperCase()}`;
      if (i === 0) out.push({ name: `${prefix}_PORT`, value: url });
      out.push({ name: base, value: url });
      out.push({ name: `${base}_PROTO`, value: proto });
      out.push({ name: `${base}_PORT`, value: String(p.port) });
      out.push({ name: `${base}_ADDR`, value: ip });
    });
  }
  return out;
}

/** The service variables `pod`'s containers get from the Services that exist now. */
export function podServiceEnv(pod: Pod, services: Iterable<Service>): Array<{ name: string; value: string }> {
  return serviceEnvVars(servicesForPod(pod, services));
}
