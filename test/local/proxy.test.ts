import net from 'node:net';
import { Client } from 'pg';
import { startProxy, type TcpProxy } from '../../local/proxy';

/** A TCP server that answers every line with `<name>:<line>`. */
async function echoServer(name: string): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (data) => socket.write(`${name}:${data.toString()}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return { server, port: address.port };
}

interface Conversation {
  socket: net.Socket;
  ask(text: string): Promise<string>;
}

/** Connects through the proxy; rejects when the connection is refused or reset before the first answer. */
function connect(port: number): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('error', reject);
    socket.once('connect', () => {
      resolve({
        socket,
        ask: (text) =>
          new Promise((answer, fail) => {
            socket.once('data', (data) => answer(data.toString()));
            socket.once('error', fail);
            socket.once('close', () => fail(new Error('closed')));
            socket.write(text);
          }),
      });
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('TCP proxy (security group and CNAME)', () => {
  let blue: { server: net.Server; port: number };
  let green: { server: net.Server; port: number };
  let proxy: TcpProxy;
  const sockets: net.Socket[] = [];

  beforeAll(async () => {
    blue = await echoServer('blue');
    green = await echoServer('green');
  });

  beforeEach(async () => {
    proxy = await startProxy({ target: { host: '127.0.0.1', port: blue.port } });
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await proxy.close();
  });

  afterAll(async () => {
    await new Promise((resolve) => blue.server.close(resolve));
    await new Promise((resolve) => green.server.close(resolve));
  });

  it('keeps an established connection flowing after setAccepting(false) and drops a new one silently', async () => {
    const established = await connect(proxy.port);
    sockets.push(established.socket);
    expect(await established.ask('before')).toBe('blue:before');

    proxy.setAccepting(false);

    expect(await established.ask('after')).toBe('blue:after');
    // A security group answers nothing: no reset, no data, no close; only the client's own timeout ends it.
    const dropped = net.connect({ host: '127.0.0.1', port: proxy.port });
    sockets.push(dropped);
    const outcome = await new Promise<string>((resolve) => {
      dropped.once('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
      dropped.once('close', () => resolve('closed'));
      dropped.once('data', () => resolve('answered'));
      dropped.setTimeout(400, () => resolve('client timeout'));
      dropped.once('connect', () => dropped.write('sneaky'));
    });
    expect(outcome).toBe('client timeout');
    expect(proxy.counts()).toMatchObject({ active: 1, accepted: 1, refused: 1, held: 1 });
    dropped.destroy();
    await sleep(50);
    expect(proxy.counts().held).toBe(0);
  });

  it('makes a PostgreSQL client wait out its connect timeout on a refused connection, not fail at once', async () => {
    proxy.setAccepting(false);
    const client = new Client({ host: '127.0.0.1', port: proxy.port, connectionTimeoutMillis: 300 });
    client.on('error', () => undefined);
    const started = Date.now();
    await expect(client.connect()).rejects.toThrow(/timeout/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    await sleep(50);
    expect(proxy.counts()).toMatchObject({ refused: 1, held: 0 });
  });

  it('releases held connections on close()', async () => {
    proxy.setAccepting(false);
    const dropped = net.connect({ host: '127.0.0.1', port: proxy.port });
    sockets.push(dropped);
    dropped.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => dropped.once('close', () => resolve()));
    await new Promise((resolve) => dropped.once('connect', resolve));
    await sleep(50);
    expect(proxy.counts().held).toBe(1);
    await proxy.close();
    await closed;
    proxy = await startProxy({ target: { host: '127.0.0.1', port: blue.port } }); // for afterEach
  });

  it('accepts new connections again after setAccepting(true)', async () => {
    proxy.setAccepting(false);
    proxy.setAccepting(true);
    const c = await connect(proxy.port);
    sockets.push(c.socket);
    expect(await c.ask('hello')).toBe('blue:hello');
  });

  it('moves only new connections with setTarget', async () => {
    const old = await connect(proxy.port);
    sockets.push(old.socket);
    expect(await old.ask('1')).toBe('blue:1');

    proxy.setTarget({ host: '127.0.0.1', port: green.port });

    const fresh = await connect(proxy.port);
    sockets.push(fresh.socket);
    expect(await fresh.ask('2')).toBe('green:2');
    expect(await old.ask('3')).toBe('blue:3');
    expect(proxy.counts().active).toBe(2);
  });

  it('closes the connections it carries on close()', async () => {
    const c = await connect(proxy.port);
    sockets.push(c.socket);
    expect(await c.ask('x')).toBe('blue:x');
    const closed = new Promise<void>((resolve) => c.socket.once('close', () => resolve()));
    await proxy.close();
    await closed;
    expect(proxy.counts().active).toBe(0);
    proxy = await startProxy({ target: { host: '127.0.0.1', port: blue.port } }); // for afterEach
  });
});
