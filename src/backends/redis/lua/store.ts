/** Storing a task state: Celery's SETEX + PUBLISH (`celery/backends/redis.py:394`), with its no-overwrite rule. */
import { LuaScript } from '../../../lifecycle/redis-client.js';

export const storeScript = new LuaScript(
  'celeriac-store-result',
  `
-- KEYS[1]  celery-task-meta-<task id>
-- ARGV[1]  the task meta (JSON)
-- ARGV[2]  seconds to keep it (result_expires); empty to keep it forever (SET instead of SETEX)
-- Writes and publishes the meta on the key's channel, unless a SUCCESS is stored already: a late duplicate must
-- not replace a good result (celery/backends/base.py:944 does the same check, in two round trips).
-- Returns 1 when written, 0 when a stored SUCCESS was kept.
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(cjson.decode, current)
  if ok and type(meta) == 'table' and meta['status'] == 'SUCCESS' then return 0 end
end
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SETEX', KEYS[1], ARGV[2], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
`,
);
