import type { KubeObject } from '@flotilla/api';
import type { ApiClient, ResourceClient, ResourceTarget } from '../api-client.js';

/**
 * `client`, except that the methods in `overrides` replace those of one
 * resource (by plural, e.g. `leases`): to make its requests hang, fail or
 * race with other writes in a test. `real` is that resource's own client.
 */
export function overrideResource(
  client: ApiClient,
  plural: string,
  overrides: (real: ResourceClient<KubeObject>) => Partial<ResourceClient<KubeObject>>,
): ApiClient {
  return {
    bind: (ns, pod, node) => client.bind(ns, pod, node),
    resource<T extends KubeObject>(target: ResourceTarget): ResourceClient<T> {
      const real = client.resource<T>(target);
      if (real.resource.plural !== plural) return real;
      return Object.assign(Object.create(real) as ResourceClient<T>, overrides(real as unknown as ResourceClient<KubeObject>));
    },
  };
}
