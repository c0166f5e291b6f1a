-- POST /api/v1/eligibility where every check names a resident not asked about before by
-- this server: the ID numbers (one per line, in OSMANTHUS_BENCH_IDS) are split between
-- wrk's threads, and each run starts at OSMANTHUS_BENCH_START (so runs do not overlap).
local key = os.getenv("OSMANTHUS_BENCH_KEY")
local start = tonumber(os.getenv("OSMANTHUS_BENCH_START") or "0")
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  ids = {}
  local n = 0
  for line in io.lines(os.getenv("OSMANTHUS_BENCH_IDS")) do
    if n >= start and n % 2 == id then ids[#ids + 1] = line end
    n = n + 1
  end
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end

request = function()
  counter = counter + 1
  local person = ids[((counter - 1) % #ids) + 1]
  local body = '{"national_id":"' .. person .. '","perk":"civilization_loan","purpose":"loan_application"}'
  return wrk.format(nil, nil, nil, body)
end
