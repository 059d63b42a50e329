import { spawnSync } from 'node:child_process';
import path from 'node:path';

describe('the soak run (a short one)', () => {
  it('routes with session churn and a consuming daemon, reports memory, and exits by itself with no unhandled rejection', () => {
    const result = spawnSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'soak.js'), '--seconds', '4', '--orchestrators', '200', '--lanes', '16', '--report-every', '1'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: process.env,
    });
    expect(result.error).toBeUndefined();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/msg\/s {2}RSS [\d.]+ MB {2}Redis [\d.]+ MB/);
    expect(result.stdout).toMatch(/routed \d+ messages .* 0 failed/);
    expect(result.stdout).toMatch(/RSS slope -?[\d.]+ MB\/min, Redis memory slope -?[\d.]+ MB\/min/);
    expect(result.stdout).toContain('unhandled rejections: 0');
  });
});
