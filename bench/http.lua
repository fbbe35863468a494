-- wrk script for `make bench-http`: POST loadentity, each request with the
-- next token of a pre-minted list (BENCH_TOKENS, one a line), so no token
-- is sent twice in a row and none can be answered from any cache.
--
--   BENCH_BODY      file with the request body
--   BENCH_DELAY_MS  pause before each request of a connection (paced run)
--   BENCH_STOP_AT   after this many responses (memory runs; per thread),
--                   stop and create BENCH_STOP_FILE: wrk's main thread
--                   sleeps out -d, so bench/http.sh interrupts it then

local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if #line > 0 then tokens[#tokens + 1] = line end
end
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local stop_at = tonumber(os.getenv("BENCH_STOP_AT") or "0")
local next_token = 0
local seen = 0

function setup(thread)
    thread:set("first", math.random(#tokens))
end

function init(args)
    next_token = first or 0
end

function request()
    next_token = next_token % #tokens + 1
    return wrk.format("POST", wrk.path, {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. tokens[next_token],
    }, body)
end

if delay_ms > 0 then
    function delay()
        return delay_ms
    end
end

if stop_at > 0 then
    function response(status, headers, body)
        seen = seen + 1
        if seen == stop_at then
            assert(io.open(os.getenv("BENCH_STOP_FILE"), "w")):close()
            wrk.thread:stop()
        end
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %d %d %.1f %.1f %.1f %d %d\n",
        summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99), latency.mean,
        e.status, e.connect + e.read + e.write + e.timeout))
end
