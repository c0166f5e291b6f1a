-- POST /api/v1/eligibility for a rotating list of residents (one ID number per line in
-- the file named by the environment variable OSMANTHUS_BENCH_IDS).
local ids = {}
for line in io.lines(os.getenv("OSMANTHUS_BENCH_IDS")) do ids[#ids + 1] = line end
local key = os.getenv("OSMANTHUS_BENCH_KEY")
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
