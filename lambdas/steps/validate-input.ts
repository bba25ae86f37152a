import type { ExecutionDocument } from '../domain/document';
import { PreconditionFailed } from '../domain/errors';
import { defaultsSchema, describeIssues, parseInput, type ValidateRequest } from '../domain/input';
import { smokeSqlRefusal } from '../domain/smoke-sql';
import type { Ports } from '../ports';

/**
 * ValidateInput: the document starts here as `{ input }`, every default filled in. An input
 * without `blueClusterId` (a recurring schedule: blue's id changes at every cutover) takes as blue
 * the cluster, within the prefix, whose endpoint the configured CNAME points at. Each smoke test's
 * SQL must already be one read-only query here, before anything is touched.
 */
export async function validateInput(
  request: ValidateRequest,
  ports: Pick<Ports, 'dns' | 'clusters'>,
): Promise<Pick<ExecutionDocument, 'input'>> {
  const raw = request.raw;
  const input =
    isObject(raw) && raw['blueClusterId'] === undefined
      ? parseInput({ ...request, raw: { ...raw, blueClusterId: await blueFromCname(request.defaults, ports) } })
      : parseInput(request);
  for (const [i, test] of input.smokeTests.entries()) {
    const refusal = await smokeSqlRefusal(test.sql);
    if (refusal) {
      throw new PreconditionFailed(
        `smokeTests[${i}].sql ("${test.name}"): a smoke test is exactly one read-only query; ${refusal}`,
      );
    }
  }
  return { input };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The cluster the CNAME points at: the first label of an Aurora cluster endpoint is its id. */
export async function blueFromCname(
  rawDefaults: unknown,
  { dns, clusters }: Pick<Ports, 'dns' | 'clusters'>,
): Promise<string> {
  const parsed = defaultsSchema.safeParse(rawDefaults);
  if (!parsed.success) {
    throw new PreconditionFailed(`The deployed configuration is invalid: ${describeIssues(parsed.error)}`);
  }
  const { hostedZoneId, recordName, clusterIdPrefix } = parsed.data;
  const why = `blueClusterId: not given, so blue is the cluster that ${recordName} points at`;
  const record = await dns.getRecord(hostedZoneId, recordName);
  if (!record || record.type !== 'CNAME' || record.values.length !== 1) {
    throw new PreconditionFailed(`${why}, but ${recordName} is not a CNAME with one target in zone ${hostedZoneId}`);
  }
  const target = (record.values[0] ?? '').replace(/\.$/, '').toLowerCase();
  const id = target.split('.')[0] ?? '';
  if (!target.includes('.cluster-') || !id.startsWith(clusterIdPrefix)) {
    throw new PreconditionFailed(
      `${why}, but it points at ${target}, which is not the cluster endpoint of a cluster whose id starts with "${clusterIdPrefix}"`,
    );
  }
  const cluster = await clusters.describeCluster(id);
  if (!cluster || cluster.endpoint.toLowerCase() !== target) {
    throw new PreconditionFailed(
      `${why}, but no cluster ${id} has the endpoint ${target}${cluster ? ` (its endpoint is ${cluster.endpoint})` : ''}`,
    );
  }
  return cluster.id;
}
