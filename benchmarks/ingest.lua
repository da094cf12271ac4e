-- wrk script for benchmarks/run.py's ingest load: POSTs ChatFlow webhooks, each with a unique
-- messageId, the customers taken in turn. Each thread stops after its share of `total`
-- responses and prints "finished" (wrk itself runs for its -d: the caller interrupts it).
--   wrk -t T -c C -d 120s -s benchmarks/ingest.lua URL -- PREFIX TOTAL CUSTOMERS FIRST THREADS QUESTION...
-- (each QUESTION a JSON string literal)
-- done() prints one JSON line: requests, latency percentiles in microseconds, errors.

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1]
  total = tonumber(args[2])
  customers = tonumber(args[3])
  first = tonumber(args[4])
  thread_count = tonumber(args[5])
  questions = {}
  for i = 6, #args do
    table.insert(questions, args[i])
  end
  share = math.floor(total / thread_count)
  if thread_index < total % thread_count then
    share = share + 1
  end
  sent = 0
  answered = 0
end

function request()
  -- request n of this thread is message n * thread_count + thread_index of the whole run
  local n = sent * thread_count + thread_index
  sent = sent + 1
  local customer = n % customers
  local body = string.format(
    '{"messageType": "text", "message": %s, "metadata": {"sender": "bench", '
    .. '"messageId": "%s-%d", "remoteJid": "7702%07d@s.whatsapp.net", "timestamp": 0}}',
    questions[customer % #questions + 1], prefix, n, first + customer)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  answered = answered + 1
  if answered == share then
    wrk.thread:stop()
    io.write("finished\n")
    io.flush()
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"status_errors": %d, "socket_errors": %d}\n',
    summary.requests, latency:percentile(50), latency:percentile(99),
    latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
