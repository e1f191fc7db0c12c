/**
 * Chord counting on Celery's keys (`celery/backends/redis.py:452 on_chord_part_return`): `.j` holds the parts, `.s`
 * the header size, `.t` the parts added while the chord runs. Celeriac adds `.celeriac.ids`, the task ids it has
 * counted, so a header task that runs twice with a different result is still counted once.
 */
import { LuaScript } from '../../../transport/redis/client.js';

export const addChordPartScript = new LuaScript(
  'celeriac-chord-part',
  `
-- KEYS[1]  celery-taskset-meta-<gid>.j             parts: zset scored by group_index, or a list (unordered)
-- KEYS[2]  celery-taskset-meta-<gid>.t             extra parts (add_to_chord)
-- KEYS[3]  celery-taskset-meta-<gid>.s             header size
-- KEYS[4]  celery-taskset-meta-<gid>.celeriac.ids  task ids counted by Celeriac workers
-- ARGV[1]  "1" for a zset (result_chord_ordered), "0" for a list
-- ARGV[2]  the part, [1, task id, state, result] as Python's json.dumps writes it
-- ARGV[3]  its score (group_index, or "+inf")
-- ARGV[4]  the task id
-- ARGV[5]  seconds to keep the keys (result_expires), or "" to keep them
-- Records the part once per task id and returns {ready, extra or false, size or false}.
local fresh = redis.call('SADD', KEYS[4], ARGV[4]) == 1
local ready
if ARGV[1] == '1' then
  if fresh then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2]) end
  ready = redis.call('ZCARD', KEYS[1])
else
  if fresh then redis.call('RPUSH', KEYS[1], ARGV[2]) end
  ready = redis.call('LLEN', KEYS[1])
end
if ARGV[5] ~= '' then
  for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
end
return {ready, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
`,
);

export const claimChordScript = new LuaScript(
  'celeriac-chord-claim',
  `
-- KEYS[1]  celery-taskset-meta-<gid>.j
-- KEYS[2]  celery-taskset-meta-<gid>.t
-- KEYS[3]  celery-taskset-meta-<gid>.s
-- ARGV[1]  "1" for a zset, "0" for a list
-- ARGV[2]  "complete": take it once every part is there; "incomplete": only while parts are missing
-- Deletes the size (so later parts, Python's included, do nothing) and returns 1 when the caller took the chord.
-- Python's part runs ZADD + ZCOUNT + GET .s in one MULTI, so it either completes the count before this runs (and
-- an "incomplete" claim fails) or finds no size after it.
local size = redis.call('GET', KEYS[3])
if not size then return 0 end
local total = tonumber(size) + tonumber(redis.call('GET', KEYS[2]) or '0')
local ready
if ARGV[1] == '1' then ready = redis.call('ZCARD', KEYS[1]) else ready = redis.call('LLEN', KEYS[1]) end
if (ready >= total) ~= (ARGV[2] == 'complete') then return 0 end
redis.call('DEL', KEYS[3])
return 1
`,
);
