// Runs the pixel script in Node with a tiny fake browser, and prints what it did as JSON.
//
// node fake_browser.js SCRIPT SCENARIO_JSON
// SCENARIO_JSON: {"href": landing URL, "cookie": cookie the page already has, "beacon": true|false,
//                 "before": commands queued before the script loads (the snippet's),
//                 "after": commands pushed once it has loaded, "load_twice": true|false}
// Prints {"cookies": [what was set], "url": the address after replaceState, "sent": [{via, url, body, options}]}
"use strict";

const fs = require("fs");
const vm = require("vm");

const [scriptPath, scenarioJson] = process.argv.slice(2);
const scenario = JSON.parse(scenarioJson);
const landing = new URL(scenario.href);

const cookiesSet = [];
let cookieJar = scenario.cookie || "";
const sent = [];
let address = landing.href;

const location = {
  href: landing.href,
  protocol: landing.protocol,
  host: landing.host,
  pathname: landing.pathname,
  search: landing.search,
  hash: landing.hash,
};
const document = {
  get cookie() {
    return cookieJar;
  },
  set cookie(value) {
    cookiesSet.push(value);
    const pair = value.split(";")[0];
    cookieJar = cookieJar ? `${cookieJar}; ${pair}` : pair;
  },
};
const navigator = {};
if (scenario.beacon !== false) {
  navigator.sendBeacon = (url, body) => {
    sent.push({via: "beacon", url, body: String(body)});
    return true;
  };
}
const window = {
  location,
  navigator,
  history: {
    state: null,
    replaceState(state, title, url) {
      address = new URL(url, landing).href;
    },
  },
  fetch(url, options) {
    sent.push({via: "fetch", url, body: String(options.body), options: {...options, body: undefined}});
    return Promise.resolve({status: 204});
  },
};
if (scenario.before) {
  window._bsq = scenario.before.slice();
}

const context = vm.createContext({window, document});
const source = fs.readFileSync(scriptPath, "utf8");
vm.runInContext(source, context, {filename: "pixel.js"});
if (scenario.load_twice) {
  vm.runInContext(source, context, {filename: "pixel.js"});
}
for (const command of scenario.after || []) {
  window._bsq.push(command);
}

process.stdout.write(JSON.stringify({cookies: cookiesSet, url: address, sent}));
