/**
 * The fetch: moves a batch of messages from the queue lists into kombu's ack bookkeeping in one atomic step,
 * so a message is always either in a list or in `unacked` (never only in a client's memory, unlike BRPOP).
 */
import { LuaScript } from '../../../transport/redis/client.js';

export const fetchScript = new LuaScript(
  'celeriac-fetch',
  `
-- KEYS[1]    unacked        hash  delivery tag -> JSON [envelope, exchange, routing key] (kombu's QoS.append)
-- KEYS[2]    unacked_index  zset  delivery tag scored by the time of delivery
-- KEYS[3..]  queue lists, bucket-major: every queue of the highest-priority bucket (the bare queue names) in
--            cycle order, then every queue of the next bucket, and so on
-- ARGV[1]    number of queues Q (the lists are Q per bucket)
-- ARGV[2]    most messages to move
-- ARGV[3]    score to index them with (seconds since the epoch, as kombu's time())
-- ARGV[4]    "1": move a queue to the end of the cycle after it gives a message (round_robin), "0": keep the order
-- ARGV[5]    nonce for the tags this script invents (messages without a delivery tag, or with a tag in use)
-- ARGV[6..]  the Q queue names, in cycle order (the routing key recorded for messages that carry none)
-- Returns a flat array of triples: queue position (1..Q in the given cycle order), delivery tag, raw envelope.
local nq = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local score = ARGV[3]
local rotate = ARGV[4] == '1'
local nonce = ARGV[5]
local nbuckets = (#KEYS - 2) / nq
local order = {}
for i = 1, nq do order[i] = i end
local empty = {}
local seen = {}
local out = {}
local hset = {}
local zadd = {}
local n = 0

-- The string value of the first "key": "value" at or after position \`from\`, or nil when it is absent or escaped.
local function literal(raw, key, from)
  local _, e = string.find(raw, key, from, true)
  if not e then return nil end
  return string.match(raw, '^%s*:%s*"([^"\\\\]*)"', e + 1)
end

-- Delivery tag, exchange and routing key of an envelope. Fast path: plain searches after the last "properties"
-- key (kombu and Celeriac both write it last), about three times cheaper than decoding the whole envelope;
-- anything unusual (escapes, missing keys) takes the slow path through cjson.
local function describe(raw, q)
  local p, at = nil, 1
  while true do
    local s = string.find(raw, '"properties"', at, true)
    if not s then break end
    p, at = s, s + 12
  end
  if p then
    local tag = literal(raw, '"delivery_tag"', p)
    local _, info = string.find(raw, '"delivery_info"', p, true)
    if tag and info then
      -- Both writers put exchange then routing_key: one match for the two, else one search each.
      local ex, rk = string.match(raw, '^%s*:%s*{%s*"exchange"%s*:%s*"([^"\\\\]*)"%s*,%s*"routing_key"%s*:%s*"([^"\\\\]*)"', info + 1)
      if not ex then
        ex = literal(raw, '"exchange"', info)
        rk = literal(raw, '"routing_key"', info)
      end
      if ex and rk then return tag, ex, rk, true end
    end
  end
  local tag, ex, rk = nil, '', ARGV[5 + q]
  local ok, env = pcall(cjson.decode, raw)
  if ok and type(env) == 'table' and type(env['properties']) == 'table' then
    local props = env['properties']
    if type(props['delivery_tag']) == 'string' then tag = props['delivery_tag'] end
    local info = props['delivery_info']
    if type(info) == 'table' then
      if type(info['exchange']) == 'string' then ex = info['exchange'] end
      if type(info['routing_key']) == 'string' then rk = info['routing_key'] end
    end
  end
  return tag, ex, rk, ok
end

-- Nothing may fail after the first pop: Redis does not roll a script back, so an error there would lose what was
-- popped. The bookkeeping keys are checked first, and a queue key that holds something else than a list (a name
-- clash) is skipped by popping with pcall.
local function holds(key, kind)
  local t = redis.call('TYPE', key)['ok']
  return t == kind or t == 'none'
end
if not holds(KEYS[1], 'hash') or not holds(KEYS[2], 'zset') then
  return redis.error_reply('celeriac fetch: ' .. KEYS[1] .. ' must be a hash and ' .. KEYS[2] ..
    ' a sorted set (kombu unacked bookkeeping); another program wrote other types there')
end
local function pop(key, count)
  local got
  if count then got = redis.pcall('RPOP', key, count) else got = redis.pcall('RPOP', key) end
  if type(got) == 'table' and got['err'] then return false end
  return got
end

-- Pop phase: the raw envelopes and their queue positions, in delivery order. A single queue, or several in a fixed
-- order, drains each list in turn with one RPOP <count> per list; round-robin over several queues pops one
-- message at a time and rotates the order after each (kombu's cycle).
local raws = {}
local qs = {}
if rotate and nq > 1 then
  while #raws < limit do
    local hit = false
    for b = 0, nbuckets - 1 do
      for i = 1, nq do
        local q = order[i]
        local key = KEYS[2 + b * nq + q]
        if not empty[key] then
          local raw = pop(key)
          if raw then
            raws[#raws + 1] = raw
            qs[#qs + 1] = q
            table.remove(order, i)
            order[#order + 1] = q
            hit = true
            break
          end
          empty[key] = true
        end
      end
      if hit then break end
    end
    if not hit then break end
  end
else
  for b = 0, nbuckets - 1 do
    for q = 1, nq do
      local want = limit - #raws
      if want <= 0 then break end
      local got = pop(KEYS[2 + b * nq + q], want)
      if got then
        for _, raw in ipairs(got) do
          raws[#raws + 1] = raw
          qs[#qs + 1] = q
        end
      end
    end
  end
end

if #raws == 0 then return out end

-- Describe phase, then one HMGET for the tags already in use (a message pushed twice, or restored while a copy
-- was still held): such a message gets a tag of our own.
local described = {}
local tags = {}
for i, raw in ipairs(raws) do
  local tag, ex, rk, json = describe(raw, qs[i])
  described[i] = { tag, ex, rk, json }
  if tag ~= nil then tags[#tags + 1] = tag end
end
local used = {}
if #tags > 0 then
  local present = redis.call('HMGET', KEYS[1], unpack(tags))
  for i, tag in ipairs(tags) do
    if present[i] then used[tag] = true end
  end
end

for i, raw in ipairs(raws) do
  local d = described[i]
  local tag = d[1]
  if tag == nil or seen[tag] or used[tag] then
    tag = 'celeriac-' .. nonce .. '-' .. n
  end
  seen[tag] = true
  n = n + 1
  local envelope = raw
  if not d[4] then envelope = cjson.encode(raw) end
  hset[#hset + 1] = tag
  hset[#hset + 1] = '[' .. envelope .. ', ' .. cjson.encode(d[2]) .. ', ' .. cjson.encode(d[3]) .. ']'
  zadd[#zadd + 1] = score
  zadd[#zadd + 1] = tag
  out[#out + 1] = qs[i]
  out[#out + 1] = tag
  out[#out + 1] = raw
end

-- unpack() takes a few thousand values at most: limit is capped by fetch_batch_size (<= 1000, options.ts).
redis.call('HSET', KEYS[1], unpack(hset))
redis.call('ZADD', KEYS[2], unpack(zadd))
return out
`,
);
