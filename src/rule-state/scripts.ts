/**
 * The Lua scripts behind the stateful rules. Each runs atomically in Redis, so several
 * subscribers (and a restarted one) share registers, throttles and correlations exactly.
 */

/**
 * Add one sample to a register series and aggregate it.
 * KEYS[1] series (sorted set: score = time in ms, member = "<event id>\0<value>": the same
 *   event never counts twice).
 * ARGV: now_ms, member, window_ms (0: none), max samples (0: none), ttl_ms, period_ms (0: all),
 *   add (1: add the sample, 0: only read).
 * Returns {count, sum, min, max, first value, first time, last value, last time} as strings
 * (over the samples within the period).
 */
export const REGISTER_ADD = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
if ARGV[7] == '1' then redis.call('ZADD', key, 'NX', now, ARGV[2]) end
local window = tonumber(ARGV[3])
if window > 0 then redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now - window)) end
local cap = tonumber(ARGV[4])
if cap > 0 then redis.call('ZREMRANGEBYRANK', key, 0, -cap - 1) end
if ARGV[7] == '1' then redis.call('PEXPIRE', key, ARGV[5]) end
local period = tonumber(ARGV[6])
local from = '-inf'
if period > 0 then from = now - period end
local items = redis.call('ZRANGEBYSCORE', key, from, '+inf', 'WITHSCORES')
local count, sum = 0, 0
local mn, mx, fv, ft, lv, lt
for i = 1, #items, 2 do
  local member = items[i]
  local v = tonumber(string.sub(member, string.find(member, '\\0', 1, true) + 1))
  local t = tonumber(items[i + 1])
  count = count + 1
  sum = sum + v
  if mn == nil or v < mn then mn = v end
  if mx == nil or v > mx then mx = v end
  if ft == nil then fv, ft = v, t end
  lv, lt = v, t
end
return {tostring(count), tostring(sum), tostring(mn or 0), tostring(mx or 0), tostring(fv or 0), tostring(ft or 0), tostring(lv or 0), tostring(lt or 0)}
`;

/**
 * Throttle: pass when no run was let through for this handler and group within the
 * period, or when the one that was is this same event (a retried batch).
 * KEYS[1] throttle key. ARGV: event id, period_ms. Returns {1} or {0, remaining ms, event id}.
 */
export const THROTTLE = `
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if ok then return {1} end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return {1} end
return {0, redis.call('PTTL', KEYS[1]), holder or ''}
`;

/**
 * Correlation: record that KEYS[1]'s group saw key ARGV[2] (event ARGV[1] at ARGV[3] ms),
 * forget sightings older than the window, and report completion once.
 * KEYS[1] hash field=key index, value="<event id>|<time ms>"; KEYS[2] the last completion,
 * JSON {by: completing event id, ids: [...]}, kept for the window (for `any`, it is also
 * what holds the window shut).
 * ARGV: event id, key index, now_ms, within_ms, number of keys, mode ("all"|"any").
 * Returns {0} (waiting) or {1, id1, id2, ...} in key order (the sightings consumed). The
 * event that completed a correlation asking again (its batch decided again after a crash)
 * gets the same answer: the event it fires is not lost, and its id is the same.
 */
export const CORRELATE = `
local now = tonumber(ARGV[3])
local within = tonumber(ARGV[4])
local done = redis.call('GET', KEYS[2])
if done then
  local d = cjson.decode(done)
  if d.by == ARGV[1] then
    local out = {1}
    for _, id in ipairs(d.ids) do out[#out + 1] = id end
    return out
  end
  if ARGV[6] == 'any' then return {0} end
end
if ARGV[6] == 'any' then
  redis.call('SET', KEYS[2], cjson.encode({by = ARGV[1], ids = {ARGV[1]}}), 'PX', within)
  return {1, ARGV[1]}
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1] .. '|' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], within)
local n = tonumber(ARGV[5])
local ids = {}
for i = 0, n - 1 do
  local v = redis.call('HGET', KEYS[1], tostring(i))
  if not v then return {0} end
  -- The time is after the last bar (an event id may hold bars of its own).
  local id, at = string.match(v, '^(.*)|(%d+)$')
  if now - tonumber(at) > within then
    redis.call('HDEL', KEYS[1], tostring(i))
    return {0}
  end
  ids[#ids + 1] = id
end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], cjson.encode({by = ARGV[1], ids = ids}), 'PX', within)
local out = {1}
for _, id in ipairs(ids) do out[#out + 1] = id end
return out
`;
