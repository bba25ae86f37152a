import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Every AWS SDK client a Lambda builds is wrapped by Powertools Tracer (lambdas/aws/tracing.ts). */
describe('AWS SDK calls are traced', () => {
  const root = path.resolve(__dirname, '../../../lambdas');
  const files = ['handlers', 'aws'].flatMap((dir) =>
    readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => path.join(root, dir, f)),
  );

  it('no handler builds an SDK client outside traced(...)', () => {
    const untraced: string[] = [];
    let wrapped = 0;
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      for (const match of source.matchAll(/(traced\()?new (\w+Client)\(/g)) {
        if (match[1]) wrapped += 1;
        else untraced.push(`${path.basename(file)}: ${match[2]}`);
      }
    }
    expect(untraced).toEqual([]);
    expect(wrapped).toBeGreaterThanOrEqual(40);
  });
});
