import { createSocket, type Socket } from 'node:dgram';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bindSamePort } from './same-port.js';

describe('bindSamePort', () => {
  const open: Array<Server | Socket> = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  });
  /** A TCP port somebody else holds. */
  const takenTcpPort = async (): Promise<number> => {
    const other = createServer();
    open.push(other);
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    return (other.address() as AddressInfo).port;
  };

  it('with port 0, tries another number when the one UDP got is taken for TCP', async () => {
    const taken = await takenTcpPort();
    let made = 0;
    // The first UDP socket lands on the number TCP cannot have, as a free pick sometimes does.
    const makeUdp = () => {
      const udp = createSocket('udp4');
      if (made++ === 0) {
        const bind = udp.bind.bind(udp) as (port: number, host: string, cb: () => void) => Socket;
        (udp as unknown as { bind: typeof bind }).bind = (_port, host, cb) => bind(taken, host, cb);
      }
      return udp;
    };
    const tcp = createServer();
    const { udp, port } = await bindSamePort('127.0.0.1', 0, makeUdp, tcp);
    open.push(udp, tcp);
    expect(made).toBe(2);
    expect(port).not.toBe(taken);
    expect(udp.address().port).toBe(port);
    expect((tcp.address() as AddressInfo).port).toBe(port);
  });

  it('with a port asked for, a taken one is an error', async () => {
    const taken = await takenTcpPort();
    const tcp = createServer();
    await expect(bindSamePort('127.0.0.1', taken, () => createSocket('udp4'), tcp)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
