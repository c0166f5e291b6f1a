-- POST /api/v1/eligibility for a rotating list of residents (one ID number per line in
-- the file named by the environment variable OSMANTHUS_BENCH_IDS). With
-- OSMANTHUS_BENCH_DELAY_MS (bench/soak.py), each connection pauses that long between its
-- requests, so that the rate stays near a target instead of the server's ceiling.
local ids = {}
for line in io.lines(os.getenv("OSMANTHUS_BENCH_IDS")) do ids[#ids + 1] = line end
local key = os.getenv("OSMANTHUS_BENCH_KEY")
local pause = tonumber(os.getenv("OSMANTHUS_BENCH_DELAY_MS") or "0")
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
request = function()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  local body = '{"national_id":"' .. id .. '","perk":"civilization_loan","purpose":"loan_application"}'
  return wrk.format(nil, nil, nil, body)
end
if pause > 0 then  -- defined only when asked for: wrk times every request it delays
  delay = function()
    return pause
  end
end
