local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/data/com.bench.writes/d" .. tid .. "-" .. counter, nil, '{"text":"a small note","n":1}')
end
