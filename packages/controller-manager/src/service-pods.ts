/**
 * The wiring the Endpoints and EndpointSlice controllers share: a queue
 * keyed by Service (`namespace/name`), fed by the Services' own events and
 * by every pod change that can change what a Service lists; the pods a
 * Service selects; and the port of a pod that a service port's targetPort
 * names.
 */
import { isPodReady, jsonEqual, labelSelectorFromObject, type KubeObject, type Pod, type Service } from '@flotilla/api';
import { Controller, type Informer } from '@flotilla/client';
import type { ControllerDeps } from './context.js';

/** Options of a ServicePodsQueue. */
export interface ServicePodsQueueOptions {
  /** The controller's name: in logs and the metric label. */
  name: string;
  reconcile(key: string): Promise<void>;
  /** The informer of what the controller writes (Endpoints, EndpointSlices): synced before the first reconcile too. */
  output: Informer<KubeObject>;
  /** True when a pod change can change what the controller writes. */
  podChanged(old: Pod, cur: Pod): boolean;
}

/** A Service-keyed queue fed by Service events and by the pods each Service selects. */
export class ServicePodsQueue {
  /** The work queue and workers (key: the Service's namespace/name). */
  readonly controller: Controller;
  readonly services: Informer<Service>;
  readonly pods: Informer<Pod>;

  constructor(deps: ControllerDeps, options: ServicePodsQueueOptions) {
    const { name, reconcile, podChanged } = options;
    this.services = deps.informers.informer<Service>('services');
    this.pods = deps.informers.informer<Pod>('pods');
    this.controller = new Controller({
      name,
      reconcile: deps.metrics ? deps.metrics.instrument(name, reconcile) : reconcile,
      informers: [this.services, this.pods, options.output],
      workers: deps.workers ?? 2,
      logger: deps.logger,
      clock: deps.clock,
    });
    deps.metrics?.watchQueue(name, this.controller.queue);
    this.services.addEventHandler({
      onAdd: (s) => this.controller.enqueue(s),
      onUpdate: (_o, s) => this.controller.enqueue(s),
      onDelete: (s) => this.controller.enqueue(s),
    });
    this.pods.addEventHandler({
      onAdd: (p) => this.enqueueServicesOf(p),
      onUpdate: (o, p) => {
        if (!podChanged(o, p)) return;
        this.enqueueServicesOf(p);
        // Services that selected the pod before its labels changed must drop it.
        if (!jsonEqual(o.metadata.labels ?? {}, p.metadata.labels ?? {})) this.enqueueServicesOf(o);
      },
      onDelete: (p) => this.enqueueServicesOf(p),
    });
  }

  /** Runs the workers until `signal` aborts (informers must be started by the caller). */
  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** The cached pods `svc` selects; undefined when it has no selector (its endpoints are the user's to write). */
  selectedPods(svc: Service): Pod[] | undefined {
    const selector = svc.spec?.selector;
    if (!selector || Object.keys(selector).length === 0) return undefined;
    const sel = labelSelectorFromObject({ matchLabels: selector });
    return this.pods.store.byNamespace(svc.metadata.namespace!).filter((p) => sel.matches(p.metadata.labels));
  }

  private enqueueServicesOf(pod: Pod): void {
    for (const svc of this.services.store.byNamespace(pod.metadata.namespace ?? 'default')) {
      const sel = svc.spec?.selector;
      if (sel && Object.keys(sel).length > 0 && labelSelectorFromObject({ matchLabels: sel }).matches(pod.metadata.labels)) this.controller.enqueue(svc);
    }
  }
}

/** True when a pod change can change its address in an Endpoints object (the EndpointSlice controller also watches `subdomain`). */
export function podAddressChanged(a: Pod, b: Pod): boolean {
  return (
    a.status?.podIP !== b.status?.podIP ||
    isPodReady(a) !== isPodReady(b) ||
    !!a.metadata.deletionTimestamp !== !!b.metadata.deletionTimestamp ||
    a.status?.phase !== b.status?.phase ||
    a.spec?.nodeName !== b.spec?.nodeName ||
    !jsonEqual(a.metadata.labels ?? {}, b.metadata.labels ?? {}) ||
    a.spec?.hostname !== b.spec?.hostname
  );
}

/** The port of `pod` that a service port's targetPort names; undefined when a name is declared by no container. */
export function resolveTargetPort(pod: Pod, target: number | string | undefined, fallback: number): number | undefined {
  if (target === undefined || target === '' || target === 0) return fallback;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === target) return p.containerPort;
  }
  return undefined;
}
