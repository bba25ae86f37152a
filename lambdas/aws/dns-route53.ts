import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { awsCall } from '../domain/aws-errors';
import type { Dns, DnsRecord } from '../ports';

/** Route 53 names are absolute (`app.example.com.`) and case-insensitive; compare them without the dot. */
function normaliseName(name: string): string {
  return name.trim().replace(/\.$/, '').toLowerCase();
}

/**
 * The routing policy of a record set, from the field that sets it (Route 53 API reference,
 * ResourceRecordSet); undefined for a simple record. Such record sets come in groups sharing a
 * name and type, told apart by `SetIdentifier`; an UPSERT of a simple record cannot replace them.
 */
export function routingPolicyOf(record: ResourceRecordSet): string | undefined {
  if (record.Weight !== undefined) return 'weighted';
  if (record.Region !== undefined) return 'latency';
  if (record.Failover !== undefined) return 'failover';
  if (record.GeoLocation !== undefined) return 'geolocation';
  if (record.GeoProximityLocation !== undefined) return 'geoproximity';
  if (record.MultiValueAnswer !== undefined) return 'multivalue';
  if (record.CidrRoutingConfig !== undefined) return 'cidr';
  return record.SetIdentifier !== undefined ? 'routing' : undefined;
}

/** The `Dns` port on Route 53: the CNAME that applications use to reach the database. */
export class Route53Dns implements Dns {
  constructor(private readonly route53: Route53Client) {}

  async getRecord(hostedZoneId: string, recordName: string): Promise<DnsRecord | undefined> {
    // ListResourceRecordSets starts at the given name/type in sort order; the first record may be
    // the next one along when ours does not exist, hence the exact-name check.
    const output = await awsCall(`ListResourceRecordSets ${recordName}`, () =>
      this.route53.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: hostedZoneId,
          StartRecordName: recordName,
          StartRecordType: 'CNAME',
          MaxItems: 1,
        }),
      ),
    );
    const record = output.ResourceRecordSets?.[0];
    if (!record?.Name || record.Type !== 'CNAME' || normaliseName(record.Name) !== normaliseName(recordName)) {
      return undefined;
    }
    return {
      name: record.Name,
      type: record.Type,
      ttl: record.TTL ?? 0,
      values: (record.ResourceRecords ?? []).flatMap((r) => (r.Value === undefined ? [] : [r.Value])),
      ...(routingPolicyOf(record) ? { routingPolicy: routingPolicyOf(record) } : {}),
      ...(record.SetIdentifier !== undefined ? { setIdentifier: record.SetIdentifier } : {}),
    };
  }

  async upsertCname(
    hostedZoneId: string,
    recordName: string,
    target: string,
    ttl: number,
    comment: string,
  ): Promise<string> {
    const output = await awsCall(`ChangeResourceRecordSets UPSERT ${recordName}`, () =>
      this.route53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: hostedZoneId,
          ChangeBatch: {
            Comment: comment,
            Changes: [
              {
                Action: 'UPSERT',
                ResourceRecordSet: { Name: recordName, Type: 'CNAME', TTL: ttl, ResourceRecords: [{ Value: target }] },
              },
            ],
          },
        }),
      ),
    );
    const changeId = output.ChangeInfo?.Id;
    if (!changeId) throw new Error(`ChangeResourceRecordSets UPSERT ${recordName}: Route 53 returned no change id`);
    return changeId;
  }

  async changeStatus(changeId: string): Promise<string> {
    const output = await awsCall(`GetChange ${changeId}`, () =>
      this.route53.send(new GetChangeCommand({ Id: changeId })),
    );
    const status = output.ChangeInfo?.Status;
    if (!status) throw new Error(`GetChange ${changeId}: Route 53 returned no status`);
    return status;
  }
}
