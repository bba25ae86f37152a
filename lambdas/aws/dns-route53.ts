import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { awsCall } from '../domain/aws-errors';
import type { Dns, DnsRecord } from '../ports';

/** Route 53 names are absolute (`app.example.com.`) and case-insensitive; compare them without the dot. */
function normaliseName(name: string): string {
  return name.trim().replace(/\.$/, '').toLowerCase();
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
