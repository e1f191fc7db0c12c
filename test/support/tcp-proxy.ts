/**
 * A TCP proxy that can black-hole traffic, for silent-partition tests (reliability battery B9): in `drop` mode it
 * keeps every connection open but forwards nothing, in either direction, and sends no FIN or RST, as a dead
 * network path would. Back in `pass` mode, new connections work; the ones open during the drop stay dead.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  drop(): void;
  pass(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  dead: boolean;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let dropping = false;
  const pairs = new Set<Pair>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    const pair: Pair = { client, upstream, dead: dropping };
    pairs.add(pair);
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (!pair.dead) to.write(chunk);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    const end = (): void => {
      pairs.delete(pair);
      if (pair.dead) return; // a black hole never tells the other side
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('proxy has no port');
  return {
    port: address.port,
    drop: () => {
      dropping = true;
      for (const pair of pairs) pair.dead = true;
    },
    pass: () => {
      dropping = false;
    },
    close: async () => {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
