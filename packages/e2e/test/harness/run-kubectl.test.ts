import { describe, expect, it } from 'vitest';
import { runKubectl } from '../../src/index.js';

// runKubectl on the real kubectl, without a cluster: what its callers rely on when kubectl ignores its input.
describe('runKubectl', () => {
  it("returns kubectl's exit when kubectl ends without reading its input (no uncaught EPIPE for the run)", async () => {
    // 4 MiB cannot fit in the pipe: kubectl's exit closes the pipe under the write.
    const run = await runKubectl('/nonexistent/kubeconfig', ['version', '--client', '-o', 'json'], { input: 'x'.repeat(4 << 20) });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).clientVersion.major).toBe('1');
  });
});
