import { GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { awsCall } from '../domain/aws-errors';
import { PreconditionFailed } from '../domain/errors';
import type { MigrationFile, MigrationSource } from '../ports';

/** More files than this under one prefix is a mistake (a wrong prefix), not a migration set. */
export const MAX_MIGRATION_OBJECTS = 1000;

export interface S3Location {
  bucket: string;
  /** The key prefix, ending in `/` (or empty for the bucket's root). */
  prefix: string;
}

/** Parses `s3://bucket/some/prefix/`; the prefix is a folder, so a missing trailing slash is added. */
export function parseS3Prefix(uri: string): S3Location {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(uri.trim());
  const bucket = match?.[1];
  if (!match || !bucket) {
    throw new PreconditionFailed(`migrations: "${uri}" is not an S3 location of the form s3://bucket/prefix/`);
  }
  const rawPrefix = match[2] ?? '';
  const prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  return { bucket, prefix };
}

/**
 * The `MigrationSource` port on S3: every object directly under the prefix (sub-folders are not
 * part of the set), named relative to the prefix, in S3's key order.
 */
export class S3MigrationSource implements MigrationSource {
  constructor(
    private readonly s3: S3Client,
    private readonly maxObjects: number = MAX_MIGRATION_OBJECTS,
  ) {}

  async list(s3Prefix: string, versions?: Readonly<Record<string, string>>): Promise<MigrationFile[]> {
    const { bucket, prefix } = parseS3Prefix(s3Prefix);
    const keys = await awsCall(`ListObjectsV2 ${s3Prefix}`, async () => {
      const found: string[] = [];
      // Delimiter '/' keeps sub-folders' objects out of Contents (they become CommonPrefixes).
      for await (const page of paginateListObjectsV2(
        { client: this.s3 },
        { Bucket: bucket, Prefix: prefix, Delimiter: '/' },
      )) {
        for (const object of page.Contents ?? []) {
          if (!object.Key || object.Key === prefix) continue; // the "folder" placeholder object
          found.push(object.Key);
          if (found.length > this.maxObjects) {
            throw new PreconditionFailed(
              `migrations: more than ${this.maxObjects} objects under ${s3Prefix}; is the prefix right?`,
            );
          }
        }
      }
      return found;
    });

    const files: MigrationFile[] = [];
    for (const key of keys) {
      const name = key.slice(prefix.length);
      const pinned = versions?.[name];
      const { bytes, versionId } = await awsCall(`GetObject s3://${bucket}/${key}`, async () => {
        const output = await this.s3.send(
          new GetObjectCommand({ Bucket: bucket, Key: key, ...(pinned ? { VersionId: pinned } : {}) }),
        );
        if (!output.Body) throw new Error(`GetObject s3://${bucket}/${key}: S3 returned no body`);
        return { bytes: await output.Body.transformToByteArray(), versionId: output.VersionId };
      });
      // "null" is S3's version of an object written while versioning was off: no version to pin.
      files.push({ name, bytes, ...(versionId && versionId !== 'null' ? { versionId } : {}) });
    }
    return files;
  }
}
