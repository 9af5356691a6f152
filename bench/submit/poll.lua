-- getResponse (or GET /v1/tasks/<id>) for tasks created before the run (their ids are in
-- POLL_IDS, comma separated). The requests are built once per thread, before the clock starts:
-- formatting each in Lua took a fifth of a core from the two the gateway has (the nginx baseline
-- sends a fixed request, without Lua).
local mode = os.getenv("POLL_MODE") or "getResponse"
local requests = {}
local i = 0

function init(args)
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")}
  for id in string.gmatch(os.getenv("POLL_IDS"), "[^,]+") do
    if mode == "task" then
      requests[#requests + 1] = wrk.format("GET", "/v1/tasks/" .. id, headers)
    else
      requests[#requests + 1] = wrk.format("POST", "/v1", headers, '[{"taskType":"getResponse","taskUUID":"' .. id .. '"}]')
    end
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
