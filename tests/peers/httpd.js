#!/usr/bin/env node
// httpd.js: a small HTTP/1.1 server on loopback for the tests (no npm
// dependencies).  Every answer is chosen by the request's query string, so
// one server serves every case:
//
//   (any path)          200 and an echo of the request as JSON:
//                       {method, path, query, headers, body, body_len,
//                        conn, conn_request, n, key, key_count}
//   ?status=CODE        answer CODE instead of 200 (the echo as body)
//   ?delay=MS           wait MS before answering (or failing)
//   ?size=N             a body of N bytes ("x"...) instead of the echo
//   ?mode=M             fail: M is a status code (503, 429, ...), "drop"
//                       (close without answering), "reset" (TCP RST),
//                       "hang" (never answer), "partial" (headers and half
//                       the announced body, then close)
//   &fail=K             ...only the first K requests of the key, then
//                       answer normally (default: every request)
//   &key=NAME           the counter fail counts on (default: the path)
//   ?retry_after=S      a Retry-After: S header on failures
//
//   GET /stats          {connections, requests, in_flight, max_in_flight,
//                        keys:{NAME: count}} (not counted themselves)
//   GET /reset          zero every counter (not counted)
//
// "connections" counts the TCP connections that carried at least one
// counted request, so the tests can see connection reuse; "max_in_flight"
// the most requests being handled at once, so they can see concurrency.
//
// Usage: node httpd.js [--host 127.0.0.1] [--port 0] [--port-file FILE]
//   [--tls-cert FILE --tls-key FILE]   (HTTPS instead of HTTP)
// Prints the port it listens on as the first line of stdout (and writes it
// to FILE, atomically).  SIGTERM/SIGINT: exits at once.
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');

const args = { host: '127.0.0.1', port: 0, portFile: null, verbose: false, cert: null, key: null };
for (let i = 2; i < process.argv.length; i++) {
	const a = process.argv[i];
	const next = () => {
		if (i + 1 >= process.argv.length) usage(`${a} needs a value`);
		return process.argv[++i];
	};
	if (a === '--host') args.host = next();
	else if (a === '--port') args.port = Number(next());
	else if (a === '--port-file') args.portFile = next();
	else if (a === '--tls-cert') args.cert = next();
	else if (a === '--tls-key') args.key = next();
	else if (a === '--verbose' || a === '-v') args.verbose = true;
	else usage(`unknown argument ${a}`);
}

function usage(msg) {
	process.stderr.write(`httpd.js: ${msg}\nusage: node httpd.js [--host H] [--port N] [--port-file F]\n` +
		'  [--tls-cert FILE --tls-key FILE] [-v]\n');
	process.exit(64);
}

let stats;
function resetStats() {
	stats = { connections: 0, requests: 0, in_flight: 0, max_in_flight: 0, keys: {} };
}
resetStats();
let connSerial = 0;

function answer(req, res, body, q) {
	const sock = req.socket;
	const code = q.get('status') ? Number(q.get('status')) : 200;
	const size = q.get('size');
	let payload;
	if (size !== null) {
		payload = Buffer.alloc(Number(size), 'x');
	} else {
		payload = Buffer.from(JSON.stringify({
			method: req.method,
			path: req.url.split('?')[0],
			query: Object.fromEntries(q),
			headers: req.headers,
			body: body.toString('utf8'),
			body_len: body.length,
			conn: sock._cpConn,
			conn_request: sock._cpRequests,
			n: stats.requests,
			key: req._cpKey,
			key_count: req._cpKeyCount,
		}) + '\n');
	}
	const headers = { 'Content-Type': size !== null ? 'text/plain' : 'application/json',
		'Content-Length': payload.length, 'X-Request-N': String(stats.requests) };
	if (code >= 400 && q.get('retry_after')) headers['Retry-After'] = q.get('retry_after');
	res.writeHead(code, headers);
	res.end(req.method === 'HEAD' ? undefined : payload);
}

function fail(req, res, body, q, mode) {
	const sock = req.socket;
	if (mode === 'drop') {
		sock.destroy();
	} else if (mode === 'reset') {
		if (sock.resetAndDestroy) sock.resetAndDestroy();
		else sock.destroy();
	} else if (mode === 'hang') {
		// Never answer; the client gives up and closes.
	} else if (mode === 'partial') {
		res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 1000 });
		res.write(Buffer.alloc(500, 'p'));
		setTimeout(() => sock.destroy(), 20);
	} else if (/^[1-5][0-9][0-9]$/.test(mode)) {
		const qq = new URLSearchParams(q);
		qq.set('status', mode);
		answer(req, res, body, qq);
	} else {
		res.writeHead(400, { 'Content-Type': 'text/plain' });
		res.end(`httpd.js: unknown mode ${mode}\n`);
	}
}

if (!args.cert !== !args.key) usage('--tls-cert and --tls-key go together');
const handler = (req, res) => {
	const url = new URL(req.url, 'http://x');
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const body = Buffer.concat(chunks);
		if (url.pathname === '/stats' || url.pathname === '/reset') {
			if (url.pathname === '/reset') resetStats();
			const s = JSON.stringify(stats) + '\n';
			res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(s) });
			res.end(s);
			return;
		}
		const sock = req.socket;
		if (!sock._cpCounted) {
			sock._cpCounted = true;
			stats.connections++;
		}
		sock._cpRequests = (sock._cpRequests || 0) + 1;
		stats.requests++;
		stats.in_flight++;
		if (stats.in_flight > stats.max_in_flight) stats.max_in_flight = stats.in_flight;
		let done = false;
		const finished = () => {
			if (!done) {
				done = true;
				stats.in_flight--;
			}
		};
		res.on('finish', finished);
		res.on('close', finished);
		const q = url.searchParams;
		const key = q.get('key') || url.pathname;
		stats.keys[key] = (stats.keys[key] || 0) + 1;
		req._cpKey = key;
		req._cpKeyCount = stats.keys[key];
		if (args.verbose)
			process.stderr.write(`httpd.js: ${req.method} ${req.url} conn ${sock._cpConn}\n`);
		const act = () => {
			const mode = q.get('mode');
			const k = q.get('fail');
			if (mode && (k === null || stats.keys[key] <= Number(k)))
				fail(req, res, body, q, mode);
			else
				answer(req, res, body, q);
		};
		const delay = Number(q.get('delay') || 0);
		if (delay > 0) setTimeout(act, delay);
		else act();
	});
};
const server = args.cert ?
	https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) }, handler) :
	http.createServer(handler);
server.keepAliveTimeout = 60000;
server.headersTimeout = 65000;
server.requestTimeout = 0;
server.on(args.cert ? 'secureConnection' : 'connection', (sock) => {
	sock._cpConn = ++connSerial;
	sock.on('error', () => {});
});
server.on('clientError', (err, sock) => {
	if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
});

server.listen(args.port, args.host, () => {
	const port = server.address().port;
	process.stdout.write(`${port}\n`);
	if (args.portFile) {
		fs.writeFileSync(args.portFile + '.tmp', `${port}\n`);
		fs.renameSync(args.portFile + '.tmp', args.portFile);
	}
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
