import type { ExecutionDocument, PollState } from '../domain/document';
import type { Ports } from '../ports';
import { advanceClusterDeletion, poll, settle } from './common';

/** DiscardGreen, at the end of a dry run: delete the clone (only ever one carrying our tag). */
export async function discardGreen(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<{ state: string; requestedAt: string }> {
  const state = await advanceClusterDeletion(clusters, doc.input.greenClusterId, { mustBeOurs: doc });
  return { state, requestedAt: clock.now().toISOString() };
}

export async function checkGreenDiscarded(
  doc: ExecutionDocument,
  { clusters, clock }: Pick<Ports, 'clusters' | 'clock'>,
): Promise<PollState> {
  const asked = new Set<string>();
  const seen = await settle(doc, clock, async () => {
    const state = await advanceClusterDeletion(clusters, doc.input.greenClusterId, { mustBeOurs: doc, asked });
    return { done: state === 'gone', status: state };
  });
  return poll(doc, 'discard', clock, seen, 'the dry run clone to be deleted');
}
