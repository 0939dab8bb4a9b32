// flotilla/httpd: a fast HTTP backend for tests and benchmarks (one Node
// process, no fork per request, keep-alive). Every answer names the replica
// that gave it, so a test can count which pods answered.
//
//   GET /            "<hostname> <ip>\n" (+ X-Hostname, X-Pod-IP headers)
//   GET /bytes/<n>   n bytes of body (e.g. /bytes/65536), same headers
//   GET /?size=<n>   the same as /bytes/<n>
//   GET /healthz     200 while ready, 503 once made unready
//   GET /unready     readiness off (then /healthz says 503); /ready turns it on
//   GET /env         the process environment as JSON (service variables)
//
// PORT (or --port) sets the port, default 8080. PID 1 handles SIGTERM:
// stop accepting, let requests in flight finish, then exit.
'use strict';
const http = require('node:http');
const os = require('node:os');

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const port = Number(arg('port') || process.env.PORT || 8080);
const host = os.hostname();
function podIP() {
  if (process.env.POD_IP) return process.env.POD_IP;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list || []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '';
}
const ip = podIP();
const hello = Buffer.from(`${host} ${ip}\n`);
const headers = { 'content-type': 'text/plain', 'x-hostname': host, 'x-pod-ip': ip };
const blocks = new Map();
let ready = true;

function body(n) {
  let b = blocks.get(n);
  if (!b) {
    b = Buffer.alloc(n, 'x');
    if (blocks.size < 64) blocks.set(n, b);
  }
  return b;
}

const server = http.createServer((req, res) => {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  let size = -1;
  if (path.startsWith('/bytes/')) size = Number(path.slice(7));
  else if (q >= 0) {
    const m = /(?:^|&)size=(\d+)/.exec(req.url.slice(q + 1));
    if (m) size = Number(m[1]);
  }
  if (size >= 0 && Number.isInteger(size) && size <= 64 * 1024 * 1024) {
    res.writeHead(200, { ...headers, 'content-length': size });
    res.end(body(size));
    return;
  }
  switch (path) {
    case '/healthz':
    case '/readyz':
      res.writeHead(ready ? 200 : 503, headers);
      res.end(ready ? 'ok\n' : 'unready\n');
      return;
    case '/unready':
      ready = false;
      res.writeHead(200, headers);
      res.end('unready\n');
      return;
    case '/ready':
      ready = true;
      res.writeHead(200, headers);
      res.end('ready\n');
      return;
    case '/env':
      res.writeHead(200, { ...headers, 'content-type': 'application/json' });
      res.end(JSON.stringify(process.env) + '\n');
      return;
    default:
      res.writeHead(200, { ...headers, 'content-length': hello.length });
      res.end(hello);
  }
});
// Longer than the usual load generator's idle time, so benchmarks keep their connections.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(port, () => console.log(`httpd ${host} ${ip} listening on :${port}`));

function stop(sig) {
  console.log(`httpd: ${sig}, draining`);
  // Stop accepting; idle keep-alive connections close now, busy ones after their response.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
