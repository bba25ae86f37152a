import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  S3Client,
  S3ServiceException,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { parseS3Prefix, S3MigrationSource } from '../../../lambdas/aws/migration-source-s3';
import { PreconditionFailed, RetryableAwsError } from '../../../lambdas/domain/errors';

const s3Mock = mockClient(S3Client);
const source = new S3MigrationSource(new S3Client({ region: 'eu-west-1' }));

/** A GetObject body as the SDK returns it; the adapter only reads it with transformToByteArray. */
function body(text: string): GetObjectCommandOutput['Body'] {
  const bytes = new TextEncoder().encode(text);
  return { transformToByteArray: async () => bytes } as unknown as GetObjectCommandOutput['Body'];
}

beforeEach(() => {
  s3Mock.reset();
});

describe('parseS3Prefix', () => {
  it.each([
    ['s3://bucket/migrations/', { bucket: 'bucket', prefix: 'migrations/' }],
    ['s3://bucket/a/b', { bucket: 'bucket', prefix: 'a/b/' }],
    ['s3://bucket', { bucket: 'bucket', prefix: '' }],
    ['s3://bucket/', { bucket: 'bucket', prefix: '' }],
  ])('parses %p', (uri, expected) => {
    expect(parseS3Prefix(uri)).toEqual(expected);
  });

  it.each(['bucket/prefix', 'https://bucket/prefix', 's3:///prefix'])('rejects %p', (uri) => {
    expect(() => parseS3Prefix(uri)).toThrow(PreconditionFailed);
  });
});

describe('list', () => {
  it('reads pinned objects at their version id and reports the version read', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'r/001_a.sql' }, { Key: 'r/002_b.sql' }] });
    s3Mock.on(GetObjectCommand, { Key: 'r/001_a.sql' }).resolves({ Body: body('A v1'), VersionId: 'v1' });
    s3Mock.on(GetObjectCommand, { Key: 'r/002_b.sql' }).resolves({ Body: body('B'), VersionId: 'null' });

    const files = await source.list('s3://deploy-bucket/r/', { '001_a.sql': 'v1' });

    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: 'deploy-bucket',
      Key: 'r/001_a.sql',
      VersionId: 'v1',
    });
    const unpinned = s3Mock.commandCalls(GetObjectCommand, { Key: 'r/002_b.sql' })[0]!.args[0].input;
    expect(unpinned).not.toHaveProperty('VersionId');
    // "null" is the version of an object written before versioning: nothing to pin.
    expect(files.map((f) => [f.name, f.versionId])).toEqual([
      ['001_a.sql', 'v1'],
      ['002_b.sql', undefined],
    ]);
  });

  it('reads every direct child over all pages, named relative to the prefix', async () => {
    s3Mock
      .on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [{ Key: 'release-7/' }, { Key: 'release-7/001_init.sql' }],
        CommonPrefixes: [{ Prefix: 'release-7/archive/' }],
        IsTruncated: true,
        NextContinuationToken: 'token-2',
      })
      .resolvesOnce({ Contents: [{ Key: 'release-7/002_index.sql' }, { Key: 'release-7/README.md' }] });
    s3Mock.on(GetObjectCommand, { Key: 'release-7/001_init.sql' }).resolves({ Body: body('CREATE TABLE t();') });
    s3Mock.on(GetObjectCommand, { Key: 'release-7/002_index.sql' }).resolves({ Body: body('CREATE INDEX i ON t();') });
    s3Mock.on(GetObjectCommand, { Key: 'release-7/README.md' }).resolves({ Body: body('# notes') });

    const files = await source.list('s3://deploy-bucket/release-7/');

    expect(files.map((f) => [f.name, new TextDecoder().decode(f.bytes)])).toEqual([
      ['001_init.sql', 'CREATE TABLE t();'],
      ['002_index.sql', 'CREATE INDEX i ON t();'],
      ['README.md', '# notes'],
    ]);
    expect(s3Mock).toHaveReceivedNthSpecificCommandWith(1, ListObjectsV2Command, {
      Bucket: 'deploy-bucket',
      Prefix: 'release-7/',
      Delimiter: '/',
    });
    expect(s3Mock).toHaveReceivedNthSpecificCommandWith(2, ListObjectsV2Command, {
      Bucket: 'deploy-bucket',
      Prefix: 'release-7/',
      Delimiter: '/',
      ContinuationToken: 'token-2',
    });
    expect(s3Mock).toHaveReceivedCommandTimes(GetObjectCommand, 3);
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: 'deploy-bucket',
      Key: 'release-7/001_init.sql',
    });
  });

  it('returns an empty set for an empty prefix', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    await expect(source.list('s3://deploy-bucket/none/')).resolves.toEqual([]);
    expect(s3Mock).not.toHaveReceivedCommand(GetObjectCommand);
  });

  it('refuses more objects than the limit (a wrong prefix)', async () => {
    const small = new S3MigrationSource(new S3Client({ region: 'eu-west-1' }), 2);
    s3Mock.on(ListObjectsV2Command).resolves({
      Contents: [{ Key: 'p/1.sql' }, { Key: 'p/2.sql' }, { Key: 'p/3.sql' }],
    });
    await expect(small.list('s3://b/p/')).rejects.toThrow(/more than 2 objects under s3:\/\/b\/p\//);
    expect(s3Mock).not.toHaveReceivedCommand(GetObjectCommand);
  });

  it('maps a missing bucket and throttling to named errors', async () => {
    s3Mock
      .on(ListObjectsV2Command)
      .rejectsOnce(new NoSuchBucket({ message: 'The bucket does not exist', $metadata: {} }));
    const missing = await source.list('s3://nope/p/').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Error);
    expect((missing as Error).name).toBe('NoSuchBucket');

    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'p/1.sql' }] });
    s3Mock.on(GetObjectCommand).rejects(
      new S3ServiceException({
        name: 'SlowDown',
        $fault: 'server',
        message: 'Please reduce your request rate.',
        $metadata: { httpStatusCode: 503 },
      }),
    );
    await expect(source.list('s3://b/p/')).rejects.toBeInstanceOf(RetryableAwsError);
  });
});
