-- The sessions' copies in Redis (panther.session_mirror), one call per writer batch on a single Redis.
-- ARGV: operations of four arguments each, applied in order: verb, key, a, b.
--   R key element      RPUSH        T key start   LTRIM key start -1   E key ms   PEXPIRE
--   D key              DEL          H key f v     HSET                 S key v ms SET key v PX ms
-- (On a cluster the writer sends the same operations as commands, each to its key's master.)
local i = 1
while i <= #ARGV do
  local verb, key, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if verb == 'R' then
    redis.call('RPUSH', key, a)
  elseif verb == 'T' then
    redis.call('LTRIM', key, a, -1)
  elseif verb == 'E' then
    redis.call('PEXPIRE', key, a)
  elseif verb == 'D' then
    redis.call('DEL', key)
  elseif verb == 'H' then
    redis.call('HSET', key, a, b)
  elseif verb == 'S' then
    redis.call('SET', key, a, 'PX', b)
  end
  i = i + 4
end
return #ARGV / 4
