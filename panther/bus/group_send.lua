-- The Redis bus's group send on a single Redis: one XADD per other live worker with members of
-- the group, in one round trip. It builds other workers' keys from ARGV, so it cannot run on a
-- Redis Cluster; there the bus reads the workers hash and runs group_copy.lua once per worker.
-- KEYS[1] = workers:{<group>}, a hash: worker id -> that worker's join epoch for the group
-- ARGV[1] = the sending worker's id, ARGV[2] = the entry's data, ARGV[3] = max stream length,
-- ARGV[4] = stream TTL (ms), ARGV[5] = key prefix (keys are named as panther.redis_keys names them)
-- Each entry carries the receiving worker's epoch ('j'), so it delivers only to members that
-- had joined when the message was sent. Workers whose alive key has expired are dropped from
-- the hash instead. Returns the workers reached and their epochs: {worker, epoch, ...}.
local workers = redis.call('HGETALL', KEYS[1])
local reached = {}
for i = 1, #workers, 2 do
  local worker, epoch = workers[i], workers[i + 1]
  if worker ~= ARGV[1] then
    if redis.call('EXISTS', ARGV[5] .. 'alive:{' .. worker .. '}') == 1 then
      local stream = ARGV[5] .. 'stream:{' .. worker .. '}'
      redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], '*', 'd', ARGV[2], 'j', epoch)
      redis.call('PEXPIRE', stream, ARGV[4])
      reached[#reached + 1] = worker
      reached[#reached + 1] = epoch
    else
      redis.call('HDEL', KEYS[1], worker)
    end
  end
end
return reached
