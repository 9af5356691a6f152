-- One unique videoInference task per request (a random UUID v4 each time).
local key = os.getenv("BENCH_KEY")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key

function setup(thread) thread:set("seed", math.random(1, 2^30)) end
function init(args) math.randomseed(seed + os.time()) end

local function uuid4()
  local r = math.random
  return string.format("%08x-%04x-4%03x-%x%03x-%04x%08x",
    r(0, 0xffffffff), r(0, 0xffff), r(0, 0xfff), r(8, 11), r(0, 0xfff), r(0, 0xffff), r(0, 0xffffffff))
end

function request()
  local body = '[{"taskType":"videoInference","taskUUID":"' .. uuid4() ..
    '","model":"reelgate:simulator@1","positivePrompt":"a benchmark of paper boats","duration":5}]'
  return wrk.format(nil, "/v1", nil, body)
end
