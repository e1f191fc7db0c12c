/** docs/configuration.md must list every option with its Celery name, so the docs stay true. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { DEFAULTS, SNAKE_CASE } from './config.js';

it('documents every option', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const snakeFor = new Map<string, string>();
  for (const [snake, camel] of Object.entries(SNAKE_CASE))
    if (!snakeFor.has(camel) || snake.endsWith('_url')) snakeFor.set(camel, snake);
  for (const key of ['broker', 'taskDefaultExchange', 'taskDefaultRoutingKey', ...Object.keys(DEFAULTS)]) {
    expect(doc, key).toContain(`| \`${key}\` | \`${snakeFor.get(key)}\` |`);
  }
});
