-- GET a page as a rotating list of signed-in residents (one Cookie header value per line
-- in the file named by OSMANTHUS_BENCH_COOKIES).
local cookies = {}
for line in io.lines(os.getenv("OSMANTHUS_BENCH_COOKIES")) do cookies[#cookies + 1] = line end
local counter = 0
request = function()
  counter = counter + 1
  wrk.headers["Cookie"] = cookies[(counter % #cookies) + 1]
  wrk.headers["Accept-Language"] = "zh-CN"
  return wrk.format("GET", nil, nil, nil)
end
