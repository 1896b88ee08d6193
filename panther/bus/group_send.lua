-- The Redis bus's group send: one XADD per other live worker with members of the group.
-- KEYS[1] = workers:<group>
-- ARGV[1] = the sending worker's id, ARGV[2] = the entry's data, ARGV[3] = max stream length,
-- ARGV[4] = stream TTL (ms), ARGV[5] = key prefix
-- Workers whose alive key has expired are dropped from the set instead.
local workers = redis.call('SMEMBERS', KEYS[1])
local sent = 0
for _, worker in ipairs(workers) do
  if worker ~= ARGV[1] then
    if redis.call('EXISTS', ARGV[5] .. 'alive:' .. worker) == 1 then
      local stream = ARGV[5] .. 'stream:' .. worker
      redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], '*', 'd', ARGV[2])
      redis.call('PEXPIRE', stream, ARGV[4])
      sent = sent + 1
    else
      redis.call('SREM', KEYS[1], worker)
    end
  end
end
return sent
