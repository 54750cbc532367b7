-- Request generator for wrk, driven by bench/api.py.
--
--   wrk -s bench/load.lua URL -- MODE TOKEN PATH [LOW HIGH] [RUN]
--
-- MODE is one of
--   fixed    GET PATH as given (query string included)
--   ids      GET PATH .. a random id in [LOW, HIGH]
--   create   POST PATH with a new contact whose email is unique to RUN, this thread and this request
--   message  POST PATH with a Bird channel message (bench/tx.py) to an address unique to RUN, this
--            thread and this request, whose html body is about LOW bytes
--
-- done() prints one line, "BENCH {json}", that api.py reads: request count, duration and
-- latency percentiles in microseconds, and errors (socket errors plus non-2xx/3xx answers).

local counter = 0

function setup(thread)
   thread:set("thread_id", counter)
   counter = counter + 1
end

local mode, path, low, high, run, html
local headers = {}
local sent = 0

function init(args)
   mode = args[1]
   headers["Authorization"] = "Bearer " .. args[2]
   path = args[3]
   low = tonumber(args[4] or "0")
   high = tonumber(args[5] or "0")
   run = args[6] or "run"
   math.randomseed(os.time() + 7919 * (thread_id or 0))
   if mode == "create" then
      headers["Content-Type"] = "application/json"
   elseif mode == "message" then
      headers["Content-Type"] = "application/json"
      html = html_of(low)
   elseif mode == "fixed" then
      local prepared = wrk.format("GET", path, headers)
      request = function() return prepared end
   elseif mode ~= "ids" then
      error("unknown mode " .. tostring(mode))
   end
end

function html_of(size)
   local paragraph = "<p>Thank you for your order. Your receipt and the tracking link follow.</p>"
   local parts = {"<html><body><h1>Your order</h1>"}
   local length = #parts[1]
   while length < size - 14 do
      table.insert(parts, paragraph)
      length = length + #paragraph
   end
   table.insert(parts, "</body></html>")
   return table.concat(parts)
end

function request()
   if mode == "ids" then
      return wrk.format("GET", path .. math.random(low, high), headers)
   end
   sent = sent + 1
   if mode == "message" then
      local address = string.format("%s-%d-%d@tx.example.com", run, thread_id or 0, sent)
      local body = string.format(
         '{"receiver": {"contacts": [{"identifierKey": "emailaddress", "identifierValue": "%s"}]},'
         .. ' "body": {"type": "html", "html": {"html": "%s", "metadata": {"subject": "Your order"}}},'
         .. ' "reference": "%s-%d-%d", "meta": {"extraInformation": {"useCase": "transactional"}}}',
         address, html, run, thread_id or 0, sent
      )
      return wrk.format("POST", path, headers, body)
   end
   local email = string.format("%s-%d-%d@bench.example.com", run, thread_id or 0, sent)
   local body = string.format('{"email": "%s", "fields": {"first_name": "X"}}', email)
   return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      e.connect + e.read + e.write + e.status + e.timeout
   ))
end
