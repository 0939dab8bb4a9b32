/**
 * One UDP socket and one TCP listener on the same port number, as a DNS
 * server needs. With port 0 the UDP socket picks a free port, and that number
 * may be taken for TCP (any local connection's ephemeral port can hold it):
 * then both are tried again on another number, a few times.
 */
import type { Socket } from 'node:dgram';
import type { Server } from 'node:net';

/** Tries for a free port number that both protocols can have. */
const TRIES = 20;

/** Binds a socket from `makeUdp` and listens with `tcp` on `host:port` (0: a free number); resolves with the socket and the number. */
export async function bindSamePort(host: string, port: number, makeUdp: () => Socket, tcp: Server): Promise<{ udp: Socket; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const udp = makeUdp();
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const bound = udp.address().port;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(bound, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      return { udp, port: bound };
    } catch (err) {
      udp.close();
      tcp.close();
      if (port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= TRIES) throw err;
    }
  }
}
