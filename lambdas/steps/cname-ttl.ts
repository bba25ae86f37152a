import type { ExecutionDocument, PollState } from '../domain/document';
import type { Ports } from '../ports';
import { poll, settle, requireBlue } from './common';

/**
 * LowerCnameTtl: early in the run, lower the CNAME's TTL to cutoverTtlSeconds so that the old
 * TTL has expired in every resolver by cutover time. The target stays blue.
 */
export async function lowerCnameTtl(
  doc: ExecutionDocument,
  { dns, clock }: Pick<Ports, 'dns' | 'clock'>,
): Promise<NonNullable<ExecutionDocument['ttl']>> {
  const blue = requireBlue(doc);
  const { hostedZoneId, recordName, cutoverTtlSeconds } = doc.input.cname;
  const previousTtl = blue.cname.ttl;
  if (previousTtl <= cutoverTtlSeconds) return { changed: false, previousTtl };
  // Resolvers that fetched the record just before the change keep it for the old TTL.
  const oldTtlExpiresAt = new Date(clock.now().getTime() + previousTtl * 1000).toISOString();
  const record = await dns.getRecord(hostedZoneId, recordName);
  if (record && record.ttl <= cutoverTtlSeconds) {
    // A retry after the change went through: changed all the same (rollback restores it).
    return { changed: true, previousTtl, oldTtlExpiresAt };
  }
  const changeId = await dns.upsertCname(
    hostedZoneId,
    recordName,
    blue.cname.target,
    cutoverTtlSeconds,
    `bluegreen ${doc.input.executionName}: lower TTL before cutover`,
  );
  return { changed: true, previousTtl, changeId, oldTtlExpiresAt };
}

export async function checkCnameTtl(
  doc: ExecutionDocument,
  { dns, clock }: Pick<Ports, 'dns' | 'clock'>,
): Promise<PollState> {
  const changeId = doc.ttl?.changeId;
  const seen = await settle(doc, clock, async () => {
    const status = changeId ? await dns.changeStatus(changeId) : 'INSYNC';
    return { done: status === 'INSYNC', status };
  });
  return poll(doc, 'ttl', clock, seen, 'the CNAME TTL change to be in sync');
}
