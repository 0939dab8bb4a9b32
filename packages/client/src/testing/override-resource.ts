import type { KubeObject } from '@flotilla/api';
import type { ApiClient, ResourceClient, ResourceTarget } from '../api-client.js';
import { waitFor } from './wait-for.js';

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
 * A request that never answers, as from an apiserver that stopped
 * answering: it rejects only when `signal` aborts (at once when it already
 * has), as RestClient's requests do, and never without one. Counted in
 * `counts` when given.
 */
export function hangUntilAborted(signal: AbortSignal | undefined, counts?: Unanswered): Promise<never> {
  if (counts) counts.calls++;
  return new Promise<never>((_, reject) => {
    const giveUp = () => {
      if (counts) counts.givenUp++;
      reject(signal!.reason);
    };
    if (signal?.aborted) giveUp();
    else signal?.addEventListener('abort', giveUp, { once: true });
  });
}

/**
 * Runs `run` until `inFlight` requests counted in `counts` are out, then
 * stops it (aborts its signal) and resolves once it has returned: it never
 * does when the stop waits on them.
 */
export async function stopWithRequestsInFlight(counts: Unanswered, run: (signal: AbortSignal) => Promise<unknown>, inFlight = 1): Promise<void> {
  const ac = new AbortController();
  const running = run(ac.signal);
  await waitFor(() => counts.calls >= inFlight, { what: `${inFlight} request(s) in flight` });
  ac.abort();
  await running;
}

/**
 * `client`, with the `methods` of one resource never answered
 * (hangUntilAborted): each hangs until the signal of the client view it was
 * made through (`withSignal`, as RestClient's) aborts, and forever when
 * made through `client` itself.
 */
export function unansweredResource(client: ApiClient, plural: string, methods: ReadonlyArray<keyof ResourceClient<KubeObject>>, counts: Unanswered): ApiClient {
  const view = (signal?: AbortSignal): ApiClient => ({
    ...overrideResource(client, plural, () => Object.fromEntries(methods.map((m) => [m, () => hangUntilAborted(signal, counts)]))),
    withSignal: (s) => view(s),
  });
  return view();
}
