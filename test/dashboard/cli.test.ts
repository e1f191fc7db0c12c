/**
 * `celeriac dashboard` as a process: it refuses an open control plane (a non-loopback address without auth), it
 * serves the page, the API and /metrics behind basic auth, and it stops on SIGTERM.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli } from '../support/processes.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('dashboard-cli');
afterAll(() => dir.remove());
const broker = () => `sqlite://${join(dir.path, `${Math.random().toString(36).slice(2)}.db`)}`;

describe('celeriac dashboard', () => {
  it('refuses a non-loopback address without auth', async () => {
    const cli = startCli(['-b', broker(), 'dashboard', '--address', '0.0.0.0', '--port', '0']);
    expect(await cli.exited()).toBe(2);
    expect(cli.output()).toMatch(/Refusing to serve the dashboard on 0\.0\.0\.0 without authentication/);
  }, 60_000);

  it('serves the page, the API and /metrics behind basic auth, and stops on SIGTERM', async () => {
    const cli = startCli([
      '-b',
      broker(),
      'dashboard',
      '--port',
      '0',
      '--basic-auth',
      'admin:pw,viewer:look:ro',
    ]);
    const line = await cli.waitFor(/listening on http:\/\//, 60_000);
    const url = /(http:\/\/\S+)/.exec(line)![1]!;
    const auth = (user: string, pass: string) => ({
      Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
    });
    expect((await fetch(url)).status).toBe(401);
    const page = await fetch(url, { headers: auth('viewer', 'look') });
    expect(await page.text()).toContain('static/app.js');
    expect((await fetch(`${url}metrics`, { headers: auth('viewer', 'look') })).status).toBe(200);
    expect((await fetch(`${url}api/tasks`, { headers: auth('admin', 'pw') })).status).toBe(200);
    const denied = await fetch(`${url}api/task/revoke/x`, {
      method: 'POST',
      headers: auth('viewer', 'look'),
    });
    expect(denied.status).toBe(403);
    cli.kill('SIGTERM');
    expect(await cli.exited()).toBe(0);
    expect(cli.output()).toMatch(/celeriac dashboard stopped/);
  }, 60_000);
});
