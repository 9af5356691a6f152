-- One unique videoInference task per request (a random UUID v4 each time).
local key = os.getenv("BENCH_KEY")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key

-- Seeds from /dev/urandom: several wrk processes started in the same second (one per instance in
-- bench/postgres) must not send the same UUIDs.
local function urandom()
  local f = io.open("/dev/urandom", "rb")
  local b = f:read(4); f:close()
  return ((b:byte(1) * 256 + b:byte(2)) * 256 + b:byte(3)) * 128 + b:byte(4) % 128
end
function setup(thread) thread:set("seed", urandom()) end
function init(args) math.randomseed(seed) end

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
