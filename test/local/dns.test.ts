import { PreconditionFailed } from '../../lambdas/domain/errors';
import { LocalDns } from '../../local/cloud/dns';
import { startProxy, type TcpProxy } from '../../local/proxy';

/** The local DNS port plays Route 53 where the workflow depends on it: here, routing-policy records. */

const ZONE = 'ZLOCAL';
const RECORD = 'db.app.internal';
const BLUE = 'app-blue.cluster.local';
const GREEN = 'app-green.cluster.local';

let proxy: TcpProxy;
let dns: LocalDns;

beforeEach(async () => {
  proxy = await startProxy();
  dns = new LocalDns({
    hostedZoneId: ZONE,
    recordName: RECORD,
    cnameProxy: proxy,
    propagationDelayMs: 10,
    log: () => undefined,
    resolveEndpoint: () => undefined,
  });
});

afterEach(async () => {
  dns.stop();
  await proxy.close();
});

describe('LocalDns and routing-policy records', () => {
  it('reports the routing policy and SetIdentifier of a record that has one', async () => {
    dns.setRoutingRecordNow(RECORD, BLUE, 60, { policy: 'weighted', setIdentifier: 'blue-90' });
    await expect(dns.getRecord(ZONE, RECORD)).resolves.toMatchObject({
      type: 'CNAME',
      values: [BLUE],
      routingPolicy: 'weighted',
      setIdentifier: 'blue-90',
    });
  });

  it('refuses to UPSERT a simple CNAME over it, as Route 53 does (InvalidChangeBatch), and leaves it as it was', async () => {
    dns.setRoutingRecordNow(RECORD, BLUE, 60, { policy: 'failover', setIdentifier: 'primary' });
    const upsert = dns.upsertCname(ZONE, RECORD, GREEN, 5, 'cutover');
    await expect(upsert).rejects.toBeInstanceOf(PreconditionFailed);
    await expect(upsert).rejects.toThrow(/InvalidChangeBatch.*failover.*SetIdentifier primary/);
    await expect(dns.getRecord(ZONE, RECORD)).resolves.toMatchObject({ values: [BLUE], setIdentifier: 'primary' });
    expect(dns.pendingChanges()).toBe(0);
  });

  it('still swaps a simple record', async () => {
    dns.setRecordNow(RECORD, BLUE, 60);
    await dns.upsertCname(ZONE, RECORD, GREEN, 5, 'cutover');
    const record = await dns.getRecord(ZONE, RECORD);
    expect(record).toMatchObject({ values: [GREEN], ttl: 5 });
    expect(record).not.toHaveProperty('setIdentifier');
  });
});
