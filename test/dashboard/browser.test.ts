/**
 * The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core) against a real fleet on
 * a private Redis: a Celeriac worker and a Python Celery 5.2.6 worker, both sending events. The workers page
 * shows both; tasks appear in the table without a reload; the state filter filters; revoking from a task's page
 * revokes it; the send-task form runs a task and shows its result; basic auth is asked for. Screenshots of every
 * page go to .test-artifacts/dashboard/ (gitignored) for a person to look at.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery, Worker, type AsyncResult } from '../../src/index.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { startPythonWorker, type PythonWorker } from '../support/python.js';
import { PrivateRedis } from '../support/redis.js';

const ARTIFACTS = fileURLToPath(new URL('../../.test-artifacts/dashboard/', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const T = 30_000;

let redis: PrivateRedis;
let app: Celery;
let worker: Worker;
let python: PythonWorker | undefined;
let dashboard: Dashboard;
let url: string;
let browser: Browser;
const queue = `browser-${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  redis = await PrivateRedis.start();
  app = new Celery('browser-test', {
    broker: redis.url,
    backend: redis.url,
    taskDefaultQueue: queue,
    workerSendTaskEvents: true,
  });
  app.task('interop.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
  app.task(
    'interop.fail',
    (message: string) => {
      throw new Error(message);
    },
    { params: ['message'] },
  );
  worker = new Worker(app, { queues: [queue], pool: 'async', hostname: 'celeriac-worker@%h' });
  await worker.start();
  python = await startPythonWorker({
    env: { INTEROP_BROKER: redis.url, INTEROP_QUEUE: queue },
    queues: [queue],
    name: 'python-worker',
    events: true,
    heartbeat: true,
    mingle: true,
    timeoutMs: 60_000,
  });
  dashboard = createDashboard({
    app,
    events: app.events,
    control: app.control,
    port: 0,
    queueInterval: 1,
  });
  url = await dashboard.start();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await dashboard?.stop();
  if (python) {
    await python.stop();
  }
  await worker?.stop();
  await app?.close();
  await redis?.stop();
}, 60_000);

async function open(hash: string, page?: Page): Promise<Page> {
  const p = page ?? (await browser.newPage({ viewport: { width: 1440, height: 900 } }));
  await p.goto(`${url}${hash}`);
  return p;
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}${name}.png` });

describe('the dashboard in chromium', () => {
  it('shows a Celeriac worker and a Python worker on the workers page', async () => {
    const page = await open('#/workers');
    await page.locator(`tr[data-worker^="celeriac-worker@"] .badge.online`).waitFor({ timeout: T });
    await page.locator(`tr[data-worker^="python-worker@"] .badge.online`).waitFor({ timeout: T });
    const software = await page.locator('tr[data-worker] td:nth-child(9)').allTextContents();
    expect(software.some((s) => s.startsWith('py-celery'))).toBe(true);
    await shot(page, 'workers');
    await page.close();
  });

  it('shows tasks as they run, without a reload', async () => {
    const page = await open('#/tasks');
    await page.locator('#rows').waitFor();
    const results: AsyncResult[] = [];
    for (let i = 0; i < 6; i += 1) results.push(await app.sendTask('interop.add', [i, 100]));
    for (const result of results) {
      await page.locator(`tr[data-task="${result.id}"][data-state="SUCCESS"]`).waitFor({ timeout: T });
    }
    await shot(page, 'tasks');
    await page.close();
  }, 180_000);

  it('filters the table by state', async () => {
    const failed = await app.sendTask('interop.fail', ['on purpose']);
    await failed.get({ timeout: 30, propagate: false });
    const page = await open('#/tasks');
    await page.locator(`tr[data-task="${failed.id}"]`).waitFor({ timeout: T });
    await page.selectOption('select[name="state"]', 'FAILURE');
    await page.click('#filters button[type="submit"]');
    await page.waitForURL(/state=FAILURE/);
    await page.locator(`tr[data-task="${failed.id}"]`).waitFor({ timeout: T });
    // The live table re-renders as events arrive: read every row's state in one snapshot inside the page, and
    // poll until the filtered table shows (a table being rebuilt may be empty for an instant).
    type Row = { getAttribute(name: string): string | null };
    const stateSets = (): Promise<string[]> =>
      page
        .locator('tr[data-task]')
        .evaluateAll((rows: Row[]) =>
          [...new Set(rows.map((row) => String(row.getAttribute('data-state'))))].sort(),
        );
    await expect.poll(stateSets, { timeout: T }).toEqual(['FAILURE']);
    await shot(page, 'tasks-failure-filter');
    await open(`#/task/${failed.id}`, page);
    await page.locator('pre').first().waitFor({ timeout: T });
    expect(await page.locator('pre').first().textContent()).toContain('on purpose');
    await shot(page, 'task-failed');
    await page.close();
  }, 180_000);

  it('revokes a task from its page', async () => {
    const waiting = await app.sendTask('interop.add', [1, 1], {}, { countdown: 120 });
    const page = await open(`#/task/${waiting.id}`);
    await page.locator('#revoke:not([disabled])').waitFor({ timeout: T });
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#revoke');
    await page.locator('#toast', { hasText: 'Revoked' }).waitFor({ timeout: T });
    // The workers hold the id as revoked (a task waiting for its ETA is discarded, and reported REVOKED, when
    // its ETA comes, as in Celery).
    await expect
      .poll(
        async () => {
          const replies = await app.control.inspect({ timeout: 2 }).revoked();
          return Object.values(replies).some((ids) => Array.isArray(ids) && ids.includes(waiting.id));
        },
        { timeout: T },
      )
      .toBe(true);
    await shot(page, 'task-revoked');
    await page.close();
  });

  it('runs a task from the send-task form and shows its result', async () => {
    const page = await open('#/send');
    await page.fill('input[name="name"]', 'interop.add');
    await page.fill('textarea[name="args"]', '[20, 22]');
    await page.click('#send-form button[type="submit"]');
    await page.locator('#send-value', { hasText: '42' }).waitFor({ timeout: T });
    await page.locator('#send-state .badge.SUCCESS').waitFor({ timeout: T });
    await shot(page, 'send-task');
    await page.close();
  });

  it('shows the queues, the plots and a worker page', async () => {
    const page = await open('#/queues');
    await page.locator(`tr[data-queue="${queue}"]`).waitFor({ timeout: T });
    await shot(page, 'queues');
    await open('#/plots', page);
    await page.locator('#rates svg').waitFor({ timeout: T });
    await shot(page, 'plots');
    await open(`#/worker/${encodeURIComponent(worker.hostname)}`, page);
    await page.locator('h1', { hasText: worker.hostname }).waitFor({ timeout: T });
    await shot(page, 'worker');
    await page.close();
  }, 180_000);
});

describe('basic auth in chromium', () => {
  let secured: Dashboard;
  let securedUrl: string;
  beforeAll(async () => {
    secured = createDashboard({
      app,
      users: [{ name: 'admin', password: 'pw', readOnly: false }],
      port: 0,
      queueInterval: 0,
    });
    securedUrl = await secured.start();
  });
  afterAll(() => secured.stop());

  it('is asked for, and the page loads with the right credentials', async () => {
    const anonymous = await browser.newPage();
    // Headless chromium has no one to type a password: it ends the navigation with this error on the challenge.
    await expect(anonymous.goto(securedUrl)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    const response = await anonymous.request.get(securedUrl);
    expect(response.status()).toBe(401);
    expect(response.headers()['www-authenticate']).toMatch(/^Basic /);
    await anonymous.close();
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: 'pw' } });
    const page = await context.newPage();
    expect((await page.goto(`${securedUrl}#/workers`))?.status()).toBe(200);
    await page.locator('h1', { hasText: 'Workers' }).waitFor({ timeout: T });
    await context.close();
  });
});
