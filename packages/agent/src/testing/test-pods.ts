/**
 * Pods as the agent's Docker tests make them: bound to the test's node
 * (no scheduler runs there), in the test's namespace, from the spec
 * defaults the test chose (a short grace period, a restart policy), and a
 * wait for one pod's state read through the API.
 */
import type { Pod, PodSpec } from '@flotilla/api';
import type { ResourceClient } from '@flotilla/client';
import { waitFor } from '@flotilla/client/testing';

/** Where the test pods live and what every one of them starts from. */
export interface TestPodOptions {
  namespace: string;
  /** Set as `spec.nodeName`: the agent under test runs them without a scheduler. */
  nodeName: string;
  /** Spec fields every pod starts from (e.g. terminationGracePeriodSeconds); a pod's own spec overrides them. */
  defaults?: Partial<PodSpec>;
  /** The pods resource to read (a function: the tests make their client in beforeAll). */
  pods: () => Pick<ResourceClient<Pod>, 'get'>;
}

/** The builder and the wait of one test file. */
export interface TestPods {
  /** A pod named `name` with `spec` over the defaults (no containers unless given). */
  pod(name: string, spec?: Partial<PodSpec>): Pod;
  /** Polls the pod until `pred` holds and resolves with it; throws naming the pod and `what` after `timeoutMs`. */
  podWhen(name: string, pred: (p: Pod) => boolean, what: string, timeoutMs?: number): Promise<Pod>;
}

/** The pod builder and pod wait for the tests of one namespace and node. */
export function testPods(options: TestPodOptions): TestPods {
  const { namespace, nodeName, defaults } = options;
  return {
    pod: (name, spec = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { nodeName, containers: [], ...defaults, ...spec } }),
    podWhen: (name, pred, what, timeoutMs = 30_000) =>
      waitFor(
        async () => {
          const p = await options.pods().get(namespace, name);
          return pred(p) ? p : undefined;
        },
        { what: `${name}: ${what}`, timeoutMs, intervalMs: 100 },
      ),
  };
}
