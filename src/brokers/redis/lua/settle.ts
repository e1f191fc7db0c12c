/**
 * Settling deliveries and keeping their leases, in kombu's bookkeeping. A delivery is "ours" while
 * `unacked_index` scores its tag with a score this consumer wrote (the last one, or the one before it when a
 * renewal's reply was lost): that fences a stale consumer off a message that was restored and delivered again,
 * to a Celeriac or a Python worker, without adding anything to kombu's layout.
 */
import { LuaScript } from '../../../transport/redis/client.js';

const OURS = `
local function ours(tag, score, previous)
  local s = redis.call('ZSCORE', KEYS[2], tag)
  if not s then return false end
  s = tonumber(s)
  return s == tonumber(score) or s == tonumber(previous)
end
`;

export const ackScript = new LuaScript(
  'celeriac-ack',
  `
-- KEYS[1]  unacked        hash
-- KEYS[2]  unacked_index  zset
-- ARGV     triples: delivery tag, score we wrote last, score we wrote before it
-- Removes each delivery that is still ours (kombu's ack: ZREM unacked_index + HDEL unacked).
-- Returns the tags that were not ours any more (restored, or delivered to someone else since).
-- One ZMSCORE for the whole batch, then one ZREM and one HDEL: a handful of calls however large the batch.
local tags = {}
for i = 1, #ARGV, 3 do tags[#tags + 1] = ARGV[i] end
local scores = redis.call('ZMSCORE', KEYS[2], unpack(tags))
local mine = {}
local seen = {}
local lost = {}
for j, tag in ipairs(tags) do
  local s = scores[j]
  local i = (j - 1) * 3 + 1
  if s then s = tonumber(s) end
  if s and not seen[tag] and (s == tonumber(ARGV[i + 1]) or s == tonumber(ARGV[i + 2])) then
    mine[#mine + 1] = tag
    seen[tag] = true
  else
    lost[#lost + 1] = tag
  end
end
if #mine > 0 then
  redis.call('ZREM', KEYS[2], unpack(mine))
  redis.call('HDEL', KEYS[1], unpack(mine))
end
return lost
`,
);

export const renewScript = new LuaScript(
  'celeriac-renew',
  `
-- KEYS[1]  unacked        hash (unused; listed so that every key the lease touches is declared)
-- KEYS[2]  unacked_index  zset
-- ARGV[1]  the new score (now)
-- ARGV[2..] triples: delivery tag, score we wrote last, score we wrote before it
-- Re-scores every delivery that is still ours, so that no worker (kombu's restore_visible included) takes it
-- for abandoned. Returns the tags whose lease was lost.
${OURS}
local lost = {}
for i = 2, #ARGV, 3 do
  local tag = ARGV[i]
  if ours(tag, ARGV[i + 1], ARGV[i + 2]) then
    redis.call('ZADD', KEYS[2], 'XX', ARGV[1], tag)
  else
    lost[#lost + 1] = tag
  end
end
return lost
`,
);

export const giveBackScript = new LuaScript(
  'celeriac-give-back',
  `
-- KEYS[1]    unacked        hash
-- KEYS[2]    unacked_index  zset
-- KEYS[3..]  destination list of each delivery, in ARGV order
-- ARGV[1]    "R": RPUSH, delivered next (kombu's restore at shutdown); "L": LPUSH, to the back of the queue
--            (kombu's reject(requeue=True))
-- ARGV[2..]  quadruples: delivery tag, score we wrote last, score we wrote before it, envelope to push (with
--            headers.redelivered and properties.delivery_info.redelivered set, as kombu's _do_restore_message)
-- Returns the tags that were not ours any more (left alone).
${OURS}
local lost = {}
local push = 'RPUSH'
if ARGV[1] == 'L' then push = 'LPUSH' end
local d = 3
for i = 2, #ARGV, 4 do
  local tag = ARGV[i]
  if ours(tag, ARGV[i + 1], ARGV[i + 2]) then
    redis.call('ZREM', KEYS[2], tag)
    redis.call('HDEL', KEYS[1], tag)
    redis.call(push, KEYS[d], ARGV[i + 3])
  else
    lost[#lost + 1] = tag
  end
  d = d + 1
end
return lost
`,
);

export const deadLetterScript = new LuaScript(
  'celeriac-dead-letter',
  `
-- KEYS[1]  unacked        hash
-- KEYS[2]  unacked_index  zset
-- KEYS[3]  dead-letter list of the queue
-- KEYS[4]  bytes held in that list (a counter beside it)
-- ARGV[1]  most entries the dead-letter list keeps
-- ARGV[2]  delivery tag, ARGV[3] score we wrote last, ARGV[4] score we wrote before it
-- ARGV[5]  dead-letter entry (JSON: reason, queue, time, envelope)
-- ARGV[6]  most bytes the dead-letter list keeps (the newest entry is always kept)
-- Moves a rejected delivery that is still ours to the dead-letter list, dropping the oldest entries past either
-- cap. Returns 1 if moved, 0 if not ours.
${OURS}
if not ours(ARGV[2], ARGV[3], ARGV[4]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[2])
local length = redis.call('LPUSH', KEYS[3], ARGV[5])
local bytes
if length == 1 then
  bytes = #ARGV[5]
  redis.call('SET', KEYS[4], bytes)
else
  bytes = redis.call('INCRBY', KEYS[4], #ARGV[5])
end
local maxCount = tonumber(ARGV[1])
local maxBytes = tonumber(ARGV[6])
while length > 1 and (length > maxCount or bytes > maxBytes) do
  local oldest = redis.call('RPOP', KEYS[3])
  if not oldest then break end
  bytes = redis.call('DECRBY', KEYS[4], #oldest)
  length = length - 1
end
return 1
`,
);
