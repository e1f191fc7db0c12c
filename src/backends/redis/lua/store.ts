/** Storing task states: Celery's SETEX + PUBLISH (`celery/backends/redis.py:394`), with its no-overwrite rule. */
import { LuaScript } from '../../../transport/redis/client.js';

export const storeScript = new LuaScript(
  'celeriac-store-results',
  `
-- KEYS[1..N]  celery-task-meta-<task id> of each state to store, in order
-- ARGV[1]     seconds to keep them (result_expires); empty to keep them forever (SET instead of SETEX)
-- ARGV[2..]   the task meta (JSON) for each key, in the same order
-- Writes each meta and publishes it on the key's channel, unless a SUCCESS is stored there already: a late
-- duplicate must not replace a good result (celery/backends/base.py:944 does the same check, in two round trips).
-- Several states of one task in one call apply in order. Returns how many were written.
-- One MGET reads every key first; a key given twice in the call is checked against what this call wrote.
local written = 0
local current = redis.call('MGET', unpack(KEYS))
local wrote = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local meta = ARGV[i + 1]
  local keep = false
  local value = wrote[key] or current[i]
  if value then
    local ok, stored = pcall(cjson.decode, value)
    keep = ok and type(stored) == 'table' and stored['status'] == 'SUCCESS'
  end
  if not keep then
    if ARGV[1] == '' then
      redis.call('SET', key, meta)
    else
      redis.call('SETEX', key, ARGV[1], meta)
    end
    redis.call('PUBLISH', key, meta)
    wrote[key] = meta
    written = written + 1
  end
end
return written
`,
);
