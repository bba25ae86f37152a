import type { Dns, DnsRecord } from '../../lambdas/ports';
import type { TcpProxy } from '../proxy';
import type { OperationRecord } from './clusters';
import { awsFault } from './errors';

/**
 * The Dns port on the CNAME proxy. One hosted zone; a record's value is a cluster endpoint host
 * name. An UPSERT is visible in `getRecord` at once (as in Route 53) and goes PENDING → INSYNC
 * after `propagationDelayMs`; only then does the CNAME proxy send NEW connections to the new
 * cluster (existing connections stay where they are, like clients that resolved the old name).
 */

export interface LocalDnsOptions {
  hostedZoneId: string;
  /** The CNAME proxy applications connect to. */
  cnameProxy: TcpProxy;
  /** The record whose changes move the CNAME proxy. */
  recordName: string;
  /** Maps a record value (a cluster endpoint) to the address of that cluster's public proxy. */
  resolveEndpoint: (value: string) => { host: string; port: number } | undefined;
  propagationDelayMs: number;
  log: (line: string) => void;
}

interface Change {
  id: string;
  status: 'PENDING' | 'INSYNC';
  submittedAt: string;
  comment: string;
}

function normalise(name: string): string {
  return name.trim().replace(/\.$/, '').toLowerCase();
}

export class LocalDns implements Dns {
  readonly records = new Map<string, DnsRecord>();
  readonly changes = new Map<string, Change>();
  /** Each change's propagation (submitted → INSYNC), like the clusters' operations. */
  readonly operations: OperationRecord[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private counter = 0;

  constructor(private readonly options: LocalDnsOptions) {}

  async getRecord(hostedZoneId: string, recordName: string): Promise<DnsRecord | undefined> {
    this.requireZone(hostedZoneId, `ListResourceRecordSets ${recordName}`);
    const record = this.records.get(normalise(recordName));
    return record ? { ...record, values: [...record.values] } : undefined;
  }

  async upsertCname(
    hostedZoneId: string,
    recordName: string,
    target: string,
    ttl: number,
    comment: string,
  ): Promise<string> {
    const action = `ChangeResourceRecordSets UPSERT ${recordName}`;
    this.requireZone(hostedZoneId, action);
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647) {
      throw awsFault('InvalidChangeBatch', `Invalid TTL ${ttl}`, action);
    }
    const name = normalise(recordName);
    const existing = this.records.get(name);
    if (existing?.setIdentifier !== undefined) {
      // As Route 53: a simple record set cannot sit beside (or replace by UPSERT) record sets of
      // the same name and type that carry a routing policy.
      throw awsFault(
        'InvalidChangeBatch',
        `[RRSet with DNS name ${name}., type CNAME cannot be created because a ${existing.routingPolicy ?? 'routing-policy'} RRSet with the same name and type (SetIdentifier ${existing.setIdentifier}) already exists]`,
        action,
      );
    }
    this.records.set(name, { name: `${name}.`, type: 'CNAME', ttl, values: [target] });
    const change: Change = {
      id: `/change/C${(++this.counter).toString().padStart(4, '0')}LOCAL`,
      status: 'PENDING',
      submittedAt: new Date().toISOString(),
      comment,
    };
    this.changes.set(change.id, change);
    this.options.log(`dns: ${name} CNAME ${target} (ttl ${ttl}) submitted as ${change.id}`);
    const operation: OperationRecord = { operation: 'dns change', resource: name, startedAt: change.submittedAt };
    this.operations.push(operation);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (name === normalise(this.options.recordName)) this.pointCnameProxy(target);
      change.status = 'INSYNC';
      operation.endedAt = new Date().toISOString();
      operation.ms = Date.parse(operation.endedAt) - Date.parse(operation.startedAt);
      this.options.log(`dns: ${change.id} INSYNC`);
    }, this.options.propagationDelayMs);
    this.timers.add(timer);
    return change.id;
  }

  async changeStatus(changeId: string): Promise<string> {
    const change = this.changes.get(changeId) ?? this.changes.get(`/change/${changeId}`);
    if (!change)
      throw awsFault(
        'NoSuchChange',
        `A change with the specified change ID does not exist: ${changeId}`,
        `GetChange ${changeId}`,
      );
    return change.status;
  }

  /** Sets a record directly, in sync at once (the rehearsal's starting state). */
  setRecordNow(recordName: string, target: string, ttl: number): void {
    const name = normalise(recordName);
    this.records.set(name, { name: `${name}.`, type: 'CNAME', ttl, values: [target] });
    if (name === normalise(this.options.recordName)) this.pointCnameProxy(target);
  }

  /**
   * Sets a record with a routing policy (weighted, failover, …), in sync at once: what a team
   * that spreads traffic with Route 53 has. `getRecord` reports the policy; UPSERT refuses it.
   */
  setRoutingRecordNow(
    recordName: string,
    target: string,
    ttl: number,
    routing: { policy: string; setIdentifier: string },
  ): void {
    const name = normalise(recordName);
    this.records.set(name, {
      name: `${name}.`,
      type: 'CNAME',
      ttl,
      values: [target],
      routingPolicy: routing.policy,
      setIdentifier: routing.setIdentifier,
    });
    if (name === normalise(this.options.recordName)) this.pointCnameProxy(target);
  }

  /** The value of the application record (`recordName`). */
  currentValue(): string | undefined {
    return this.records.get(normalise(this.options.recordName))?.values[0];
  }

  /** The TTL of the application record (`recordName`), as a resolver would cache it. */
  currentTtl(): number | undefined {
    return this.records.get(normalise(this.options.recordName))?.ttl;
  }

  pendingChanges(): number {
    return [...this.changes.values()].filter((c) => c.status === 'PENDING').length;
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private pointCnameProxy(value: string): void {
    this.options.cnameProxy.setTarget(this.options.resolveEndpoint(value));
  }

  private requireZone(hostedZoneId: string, action: string): void {
    const id = hostedZoneId.replace(/^\/hostedzone\//, '');
    if (id !== this.options.hostedZoneId) {
      throw awsFault('NoSuchHostedZone', `No hosted zone found with ID: ${hostedZoneId}`, action);
    }
  }
}
