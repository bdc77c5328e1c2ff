-- GCRA for one key, on the Redis clock; the same arithmetic as gcra.rs.
-- KEYS[1]: the key, holding its theoretical arrival time (TAT) in microseconds.
-- ARGV[1]: the emission interval in microseconds; ARGV[2]: the limit (burst).
-- Returns {allowed (0/1), remaining, reset_after_us, retry_after_us}.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local span = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local debt = tat + interval - now
if debt > span then
  return {0, 0, tat - now, debt - span}
end
-- The key lives as long as the budget is not full again: Redis memory stays bounded.
redis.call('SET', KEYS[1], string.format('%.0f', now + debt), 'PX', math.ceil(debt / 1000))
return {1, math.floor((span - debt) / interval), debt, 0}
