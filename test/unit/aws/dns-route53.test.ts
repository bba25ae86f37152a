import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  NoSuchHostedZone,
  Route53Client,
  Route53ServiceException,
} from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import { Route53Dns } from '../../../lambdas/aws/dns-route53';
import { PreconditionFailed, RetryableAwsError } from '../../../lambdas/domain/errors';

const route53Mock = mockClient(Route53Client);
const dns = new Route53Dns(new Route53Client({ region: 'us-east-1' }));

beforeEach(() => {
  route53Mock.reset();
});

describe('getRecord', () => {
  it('asks for the one CNAME at the name and maps it', async () => {
    route53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [
        {
          Name: 'db.example.com.',
          Type: 'CNAME',
          TTL: 300,
          ResourceRecords: [{ Value: 'blue.cluster-abc.eu-west-1.rds.amazonaws.com' }],
        },
      ],
      IsTruncated: false,
      MaxItems: 1,
    });

    await expect(dns.getRecord('Z123', 'db.example.com')).resolves.toEqual({
      name: 'db.example.com.',
      type: 'CNAME',
      ttl: 300,
      values: ['blue.cluster-abc.eu-west-1.rds.amazonaws.com'],
    });
    expect(route53Mock).toHaveReceivedCommandWith(ListResourceRecordSetsCommand, {
      HostedZoneId: 'Z123',
      StartRecordName: 'db.example.com',
      StartRecordType: 'CNAME',
      MaxItems: 1,
    });
  });

  it.each([
    ['weighted', { Weight: 90 }],
    ['latency', { Region: 'eu-west-1' }],
    ['failover', { Failover: 'PRIMARY' }],
    ['geolocation', { GeoLocation: { CountryCode: 'FR' } }],
    ['geoproximity', { GeoProximityLocation: { AWSRegion: 'eu-west-1', Bias: 0 } }],
    ['multivalue', { MultiValueAnswer: true }],
    ['cidr', { CidrRoutingConfig: { CollectionId: 'c1', LocationName: 'office' } }],
  ] as const)('reports a %s routing policy and its SetIdentifier', async (policy, fields) => {
    route53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [
        {
          Name: 'db.example.com.',
          Type: 'CNAME',
          TTL: 60,
          SetIdentifier: 'blue',
          ResourceRecords: [{ Value: 'blue.cluster-abc.eu-west-1.rds.amazonaws.com' }],
          ...fields,
        },
      ],
      IsTruncated: true,
      MaxItems: 1,
    });
    await expect(dns.getRecord('Z123', 'db.example.com')).resolves.toMatchObject({
      routingPolicy: policy,
      setIdentifier: 'blue',
    });
  });

  it('matches names regardless of the trailing dot and case', async () => {
    route53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [{ Name: 'db.example.com.', Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'x' }] }],
      IsTruncated: false,
      MaxItems: 1,
    });
    await expect(dns.getRecord('Z123', 'DB.Example.com.')).resolves.toMatchObject({ ttl: 60, values: ['x'] });
  });

  it('returns undefined when the next record in order is another name', async () => {
    route53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [{ Name: 'dba.example.com.', Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'x' }] }],
      IsTruncated: true,
      MaxItems: 1,
    });
    await expect(dns.getRecord('Z123', 'db.example.com')).resolves.toBeUndefined();
  });

  it('returns undefined when the record at the name is not a CNAME', async () => {
    route53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [{ Name: 'db.example.com.', Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: '"v"' }] }],
      IsTruncated: false,
      MaxItems: 1,
    });
    await expect(dns.getRecord('Z123', 'db.example.com')).resolves.toBeUndefined();
  });

  it('maps NoSuchHostedZone to PreconditionFailed', async () => {
    route53Mock
      .on(ListResourceRecordSetsCommand)
      .rejects(new NoSuchHostedZone({ message: 'No hosted zone found with ID: Z123', $metadata: {} }));
    await expect(dns.getRecord('Z123', 'db.example.com')).rejects.toBeInstanceOf(PreconditionFailed);
  });
});

describe('upsertCname', () => {
  it('UPSERTs the CNAME with the TTL and comment and returns the change id', async () => {
    route53Mock.on(ChangeResourceRecordSetsCommand).resolves({
      ChangeInfo: { Id: '/change/C42', Status: 'PENDING', SubmittedAt: new Date() },
    });

    await expect(
      dns.upsertCname('Z123', 'db.example.com', 'green.cluster-abc.eu-west-1.rds.amazonaws.com', 5, 'bluegreen exec1'),
    ).resolves.toBe('/change/C42');
    expect(route53Mock).toHaveReceivedCommandWith(ChangeResourceRecordSetsCommand, {
      HostedZoneId: 'Z123',
      ChangeBatch: {
        Comment: 'bluegreen exec1',
        Changes: [
          {
            Action: 'UPSERT',
            ResourceRecordSet: {
              Name: 'db.example.com',
              Type: 'CNAME',
              TTL: 5,
              ResourceRecords: [{ Value: 'green.cluster-abc.eu-west-1.rds.amazonaws.com' }],
            },
          },
        ],
      },
    });
  });

  it('maps InvalidChangeBatch to PreconditionFailed', async () => {
    route53Mock
      .on(ChangeResourceRecordSetsCommand)
      .rejects(new InvalidChangeBatch({ message: 'RRSet of type CNAME ...', $metadata: {} }));
    await expect(dns.upsertCname('Z123', 'db.example.com', 'x', 5, 'c')).rejects.toBeInstanceOf(PreconditionFailed);
  });

  it('maps PriorRequestNotComplete to RetryableAwsError', async () => {
    route53Mock.on(ChangeResourceRecordSetsCommand).rejects(
      new Route53ServiceException({
        name: 'PriorRequestNotComplete',
        $fault: 'client',
        message: 'The request was rejected because Route 53 was still processing a prior request.',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    await expect(dns.upsertCname('Z123', 'db.example.com', 'x', 5, 'c')).rejects.toBeInstanceOf(RetryableAwsError);
  });
});

describe('changeStatus', () => {
  it('returns the status of the change', async () => {
    route53Mock
      .on(GetChangeCommand, { Id: '/change/C42' })
      .resolves({ ChangeInfo: { Id: '/change/C42', Status: 'INSYNC', SubmittedAt: new Date() } });
    await expect(dns.changeStatus('/change/C42')).resolves.toBe('INSYNC');
    expect(route53Mock).toHaveReceivedCommandWith(GetChangeCommand, { Id: '/change/C42' });
  });

  it('maps throttling to RetryableAwsError', async () => {
    route53Mock.on(GetChangeCommand).rejects(
      new Route53ServiceException({
        name: 'Throttling',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    await expect(dns.changeStatus('/change/C42')).rejects.toBeInstanceOf(RetryableAwsError);
  });
});
