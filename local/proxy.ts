import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that plays two AWS behaviours for the rehearsal:
 * - a security group (`setAccepting`): when the access group is detached, NEW connections are
 *   dropped silently while ESTABLISHED ones keep flowing, as AWS connection tracking does. A
 *   security group has no "reject" rule: the SYN gets no answer, so a client learns nothing until
 *   its own connect timeout fires. The proxy holds such a connection open and never answers (the
 *   kernel has already completed the handshake, so this is as close as userland gets), which is
 *   what a client's connect timeout sees: no server greeting, ever;
 * - a DNS CNAME (`setTarget`): new connections go to the new target, existing ones stay where
 *   they are, as clients that resolved the old name before the change do.
 */

export interface ProxyTarget {
  host: string;
  port: number;
}

export interface ProxyCounts {
  /** Connections currently open through the proxy. */
  active: number;
  /** Connections accepted and forwarded since the start. */
  accepted: number;
  /** Connections dropped silently because the proxy was not accepting (as a security group does). */
  refused: number;
  /** Refused connections still held open, unanswered, until their client gives up. */
  held: number;
  /** Connections closed because the target could not be reached. */
  failed: number;
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  readonly accepting: boolean;
  readonly target: ProxyTarget | undefined;
  setAccepting(accepting: boolean): void;
  /** Where NEW connections go; `undefined`: nowhere (they are closed at once). */
  setTarget(target: ProxyTarget | undefined): void;
  counts(): ProxyCounts;
  /** Stops listening and closes every connection (both sides). */
  close(): Promise<void>;
}

export interface ProxyOptions {
  target?: ProxyTarget;
  /** @default true */
  accepting?: boolean;
  /** @default 0 (any free port) */
  port?: number;
  /** Called for each refused connection (for a log line). */
  onRefused?: () => void;
}

export async function startProxy(options: ProxyOptions = {}): Promise<TcpProxy> {
  let accepting = options.accepting ?? true;
  let target = options.target;
  const open = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const held = new Set<net.Socket>();
  const counts = { accepted: 0, refused: 0, failed: 0 };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    const to = target;
    client.on('error', () => undefined);
    if (!accepting) {
      counts.refused++;
      options.onRefused?.();
      // Dropped, not reset: read and discard whatever the client sends, answer nothing, and let
      // the client's connect timeout end it.
      held.add(client);
      client.on('close', () => held.delete(client));
      client.on('data', () => undefined);
      client.resume();
      return;
    }
    if (!to) {
      // No target behind the name (a CNAME to nothing): the client sees the connection reset.
      counts.failed++;
      client.resetAndDestroy();
      return;
    }
    counts.accepted++;
    const upstream = net.connect({ host: to.host, port: to.port });
    open.add(client);
    open.add(upstream);
    clients.add(client);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', closeBoth);
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') counts.failed++;
      closeBoth();
    });
    client.on('close', () => {
      open.delete(client);
      clients.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      open.delete(upstream);
      client.destroy();
    });
    upstream.on('connect', () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  });
  server.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    host: '127.0.0.1',
    port,
    get accepting() {
      return accepting;
    },
    get target() {
      return target;
    },
    setAccepting(value: boolean) {
      accepting = value;
    },
    setTarget(value: ProxyTarget | undefined) {
      target = value ? { host: value.host, port: value.port } : undefined;
    },
    counts() {
      return { active: clients.size, held: held.size, ...counts };
    },
    close() {
      for (const socket of [...open, ...held]) socket.destroy();
      open.clear();
      held.clear();
      clients.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
