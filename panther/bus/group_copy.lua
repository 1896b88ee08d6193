-- One worker's copy of a group message, if that worker is alive (cluster-safe: both keys are
-- declared and share the worker's hash tag, so they live in one slot).
-- KEYS[1] = stream:{<worker>}, KEYS[2] = alive:{<worker>}
-- ARGV[1] = the entry's data, ARGV[2] = the worker's join epoch for the group ('j'),
-- ARGV[3] = max stream length, ARGV[4] = stream TTL (ms)
-- Returns 1 if the entry was added, 0 if the worker's alive key has expired.
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'd', ARGV[1], 'j', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
