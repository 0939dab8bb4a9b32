import { AsyncResource, executionAsyncId } from 'node:async_hooks';
import { connect, createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { installLeanAsyncResourceBind } from './lean-bind.js';

describe('installLeanAsyncResourceBind', () => {
  installLeanAsyncResourceBind();
  installLeanAsyncResourceBind();

  it('runs the bound function in the resource’s scope with its this, arguments and result', () => {
    const resource = new AsyncResource('test');
    const seen: unknown[] = [];
    const bound = resource.bind(function (this: unknown, a: number, b: number) {
      seen.push(executionAsyncId(), this, a, b);
      return a + b;
    });
    const holder = { bound };
    expect(holder.bound(2, 3)).toBe(5);
    expect(seen).toEqual([resource.asyncId(), holder, 2, 3]);
    expect(bound.length).toBe(2);
    expect('asyncResource' in bound).toBe(false);
  });

  it('uses thisArg when given, and the static bind goes through it too', () => {
    const self = { name: 'me' };
    const resource = new AsyncResource('test');
    // Node's typings leave thisArg out of the instance method.
    const bindWith = resource.bind.bind(resource) as unknown as (fn: (this: unknown, x: string) => unknown, thisArg: unknown) => (x: string) => unknown;
    const bound = bindWith(function (this: unknown, x: string) {
      return [executionAsyncId(), this, x];
    }, self);
    expect(bound('y')).toEqual([resource.asyncId(), self, 'y']);
    const viaStatic = AsyncResource.bind((x: number) => x * 2);
    expect(viaStatic(21)).toBe(42);
    expect(viaStatic.length).toBe(1);
  });

  it('refuses what is not a function', () => {
    expect(() => new AsyncResource('test').bind(42 as unknown as () => void)).toThrow(TypeError);
  });

  it('keeps HTTP/2 client requests working (Node binds one per request)', async () => {
    const server = createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`got ${n}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      // Requests made before the session connects are bound and replayed on 'connect'.
      const answers = await Promise.all(
        [10, 20, 30].map(
          (size) =>
            new Promise<string>((resolve, reject) => {
              const st = session.request({ ':method': 'POST', ':path': '/' });
              let text = '';
              st.setEncoding('utf8');
              st.on('data', (c: string) => (text += c));
              st.on('end', () => resolve(text));
              st.on('error', reject);
              st.end(Buffer.alloc(size));
            }),
        ),
      );
      expect(answers).toEqual(['got 10', 'got 20', 'got 30']);
    } finally {
      session.close();
      await new Promise((r) => server.close(r));
    }
  });
});
