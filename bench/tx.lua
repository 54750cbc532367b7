-- Request generator for wrk, driven by bench/tx.py: sends Bird channel messages.
--
--   wrk -s bench/tx.lua URL -- TOKEN PATH RUN HTML_BYTES
--
-- Each request is POST PATH with a message to an address unique to RUN, this thread and this
-- request, with an html body of about HTML_BYTES. done() prints "BENCH {json}" as load.lua does.

local counter = 0

function setup(thread)
   thread:set("thread_id", counter)
   counter = counter + 1
end

local headers = {}
local path, run, html
local sent = 0

function init(args)
   headers["Authorization"] = "AccessKey " .. args[1]
   headers["Content-Type"] = "application/json"
   path = args[2]
   run = args[3]
   local size = tonumber(args[4] or "2048")
   local paragraph = "<p>Thank you for your order. Your receipt and the tracking link follow.</p>"
   local parts = {"<html><body><h1>Your order</h1>"}
   local length = #parts[1]
   while length < size - 14 do
      table.insert(parts, paragraph)
      length = length + #paragraph
   end
   table.insert(parts, "</body></html>")
   html = table.concat(parts)
end

function request()
   sent = sent + 1
   local address = string.format("%s-%d-%d@tx.example.com", run, thread_id or 0, sent)
   local body = string.format(
      '{"receiver": {"contacts": [{"identifierKey": "emailaddress", "identifierValue": "%s"}]},'
      .. ' "body": {"type": "html", "html": {"html": "%s", "metadata": {"subject": "Your order"}}},'
      .. ' "reference": "%s-%d-%d", "meta": {"extraInformation": {"useCase": "transactional"}}}',
      address, html, run, thread_id or 0, sent
   )
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
