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

/** What unansweredResource counts: requests made, and those given up through the client's signal. */
export interface Unanswered {
  calls: number;
  givenUp: number;
}

/**
 * `client`, with the `methods` of one resource never answered, as by an
 * apiserver that stopped answering: each hangs until the signal of the
 * client view it was made through (`withSignal`, as RestClient's) aborts,
 * and forever when made through `client` itself.
 */
export function unansweredResource(client: ApiClient, plural: string, methods: ReadonlyArray<keyof ResourceClient<KubeObject>>, counts: Unanswered): ApiClient {
  const view = (signal?: AbortSignal): ApiClient => ({
    ...overrideResource(client, plural, () =>
      Object.fromEntries(
        methods.map((m) => [
          m,
          () => {
            counts.calls++;
            return new Promise<never>((_, reject) => {
              const giveUp = () => (counts.givenUp++, reject(signal!.reason));
              // Made after the abort: refused at once, as RestClient's are.
              if (signal?.aborted) giveUp();
              else signal?.addEventListener('abort', giveUp, { once: true });
            });
          },
        ]),
      ),
    ),
    withSignal: (s) => view(s),
  });
  return view();
}
