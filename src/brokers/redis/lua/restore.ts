/**
 * Restoring abandoned deliveries, compatible with kombu's `QoS.restore_visible` (`kombu/transport/redis.py:396`):
 * the caller holds `unacked_mutex` (a redis-py style lock: SET NX PX + token) exactly as kombu does, so Python
 * workers and Celeriac workers never restore the same entry twice.
 */
import { LuaScript } from '../../../transport/redis/client.js';

export const restoreScript = new LuaScript(
  'celeriac-restore',
  `
-- KEYS[1]    unacked        hash
-- KEYS[2]    unacked_index  zset
-- KEYS[3..]  destination lists, referred to by position below
-- ARGV[1]    ceiling: only entries scored at or below it are restored (a lease renewed meanwhile is left alone)
-- ARGV[2..]  per entry: delivery tag, envelope to push (redelivered set), number of destinations D, then D
--            positions in KEYS; D = 0 drops a dangling index entry
-- RPUSH puts a restored message at the consuming end, as kombu does. Returns how many entries were restored.
local ceiling = tonumber(ARGV[1])
local restored = 0
local i = 2
while i <= #ARGV do
  local tag = ARGV[i]
  local payload = ARGV[i + 1]
  local count = tonumber(ARGV[i + 2])
  local s = redis.call('ZSCORE', KEYS[2], tag)
  if s and tonumber(s) <= ceiling then
    redis.call('ZREM', KEYS[2], tag)
    redis.call('HDEL', KEYS[1], tag)
    for d = 1, count do
      redis.call('RPUSH', KEYS[tonumber(ARGV[i + 2 + d])], payload)
    end
    restored = restored + 1
  end
  i = i + 3 + count
end
return restored
`,
);

export const releaseMutexScript = new LuaScript(
  'celeriac-release-mutex',
  `
-- KEYS[1]  unacked_mutex
-- ARGV[1]  the token this holder set
-- Deletes the lock only if it is still ours (redis-py's Lock.release does the same compare-and-delete).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
);

export const renewMutexScript = new LuaScript(
  'celeriac-renew-mutex',
  `
-- KEYS[1]  unacked_mutex
-- ARGV[1]  the token this holder set
-- ARGV[2]  milliseconds the lock is held from now
-- Extends the lock only if it is still ours (redis-py's Lock.extend with replace_ttl).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`,
);
