/**
 * Just enough of the Docker Engine API (over its unix socket, with undici)
 * for the raw-engine baseline: the bench measures the engine directly, not
 * through the agent's runtime, so the two can be compared.
 */
import { Client } from 'undici';

/** The socket path of DOCKER_HOST (unix:// only), default /var/run/docker.sock. */
export function dockerSocket(): string {
  const host = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  if (!host.startsWith('unix://')) throw new Error(`DOCKER_HOST ${host}: only unix:// sockets are supported by the benchmark`);
  return host.slice('unix://'.length);
}

/** A thin Docker Engine API client. */
export class DockerApi {
  private readonly client: Client;

  constructor(socketPath = dockerSocket()) {
    this.client = new Client('http://docker', { socketPath, pipelining: 0, connections: 64 } as never);
  }

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.client.request({
      method,
      path,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`docker ${method} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Creates a container (not started); returns its id. */
  async create(name: string, config: Record<string, unknown>): Promise<string> {
    const r = await this.call<{ Id: string }>('POST', `/containers/create?name=${encodeURIComponent(name)}`, config);
    return r.Id;
  }

  /** Starts a created or stopped container. */
  async start(id: string): Promise<void> {
    await this.call('POST', `/containers/${id}/start`);
  }

  /** Sends SIGKILL. */
  async kill(id: string): Promise<void> {
    await this.call('POST', `/containers/${id}/kill?signal=KILL`);
  }

  /** Removes a container, running or not; a missing one is fine. */
  async remove(id: string): Promise<void> {
    try {
      await this.call('DELETE', `/containers/${id}?force=true&v=true`);
    } catch (err) {
      if (!/HTTP 404/.test((err as Error).message)) throw err;
    }
  }

  /** Ids of the containers (running or not) carrying `label` (`key` or `key=value`). */
  async listByLabel(label: string): Promise<string[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
    const r = await this.call<Array<{ Id: string }>>('GET', `/containers/json?all=true&filters=${filters}`);
    return r.map((c) => c.Id);
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.client.close();
  }
}
