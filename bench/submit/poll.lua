-- getResponse for tasks created before the run (their ids are in POLL_IDS, comma separated).
local ids = {}
for id in string.gmatch(os.getenv("POLL_IDS"), "[^,]+") do ids[#ids + 1] = id end
local mode = os.getenv("POLL_MODE") or "getResponse"
local i = 0
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")

function request()
  i = i % #ids + 1
  if mode == "task" then return wrk.format("GET", "/v1/tasks/" .. ids[i]) end
  return wrk.format("POST", "/v1", nil, '[{"taskType":"getResponse","taskUUID":"' .. ids[i] .. '"}]')
end
