/**
 * The beat lease and its fenced writes, as Lua scripts: the lease is a string key set with `SET NX PX` (Redis'
 * single-instance lock pattern) whose value is the holder's token, and every write of beat state first checks,
 * in the same script, that the lease still holds our token.
 */
import { LuaScript } from '../../transport/redis/client.js';

export const acquireScript = new LuaScript(
  'celeriac-beat-acquire',
  `
-- KEYS[1]  lease       string: the holder's token, expiring
-- ARGV[1]  token       this beat's token
-- ARGV[2]  ttl         lease time in milliseconds
-- Takes the lease when it is free, or renews it when it is already ours.
-- Returns {1, ttl} when held, {0, milliseconds until the current holder's lease expires} otherwise.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(ARGV[2])}
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, tonumber(ARGV[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
`,
);

export const releaseScript = new LuaScript(
  'celeriac-beat-release',
  `
-- KEYS[1]  lease
-- ARGV[1]  token   this beat's token
-- Deletes the lease only if it is still ours (compare-and-delete). Returns 1 if deleted.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
);

export const fencedWriteScript = new LuaScript(
  'celeriac-beat-write',
  `
-- KEYS[1]  lease       string: the holder's token
-- KEYS[2]  state       hash: "__meta__" -> {timezone, utcEnabled}, entry name -> {lastRunAt, totalRunCount, definition}
-- ARGV[1]  token       this beat's token
-- ARGV[2]  replace     "1": the fields below replace the whole hash; "0": they are set over it
-- ARGV[3..]            field, value, field, value, ...
-- Writes only while the lease holds our token (fencing). Returns 1 if written, 0 if the lease is not ours.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[2])
end
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return 1
`,
);
