#!/usr/bin/env node
// faultproxy.js: a loopback HTTP reverse proxy that injects faults in front
// of any HTTP server (httpd.js, the SQS emulator, the Bedrock fakes).  No
// npm dependencies.  Clients point at the proxy instead of the server; the
// request (method, path, headers including Host, body) is forwarded
// unchanged over keep-alive connections, and the answer relayed, unless a
// fault is drawn for it:
//
//   503, 500     answer that status with a JSON error body (AWS shaped:
//                {"__type":"ServiceUnavailable"|"InternalError",...})
//   throttle     answer a throttling error, per --throttle:
//                  http     429, Retry-After: --retry-after (default 0: none)
//                  sqs      400, {"__type":"com.amazon.coral.availability#
//                           ThrottlingException","message":"Rate exceeded"},
//                           x-amzn-query-error: ThrottlingException;Sender
//                  sqs-403  403, {"__type":"com.amazonaws.sqs#RequestThrottled"}
//                           x-amzn-query-error: RequestThrottled;Sender
//                (--throttle-status N and --throttle-body TEXT override)
//   timeout      never answer (the request is not forwarded)
//   drop         close the client connection without answering (FIN)
//   reset        reset the client connection (RST)
//   lose         forward, let the server act on it, then close the client
//                connection instead of answering: "did it happen?" cases
//
// Which requests: --schedule LIST (comma separated faults or "ok", taken one
// per request in arrival order) first, then for every further request one
// draw against the probabilities --p-503 --p-500 --p-throttle --p-timeout
// --p-drop --p-reset --p-lose (0..1 each; a seeded generator, --seed N).
// --match TEXT limits faults to requests whose "METHOD PATH X-Amz-Target"
// contains TEXT; others pass untouched.  --delay-ms N (+ --jitter-ms N)
// delays every request before it is handled (a region's round trip).
//
// Counts: {requests, forwarded, relayed, delayed, connections,
// upstream_errors, injected:{503,500,throttle,timeout,drop,reset,lose}} are
// written as JSON to --stats FILE (default: stdout) at exit (SIGTERM,
// SIGINT), and answered at GET /__faultproxy/stats at any time.  GET
// /__faultproxy/config?p-503=0.5&schedule=... changes the settings (same
// names as the options), GET /__faultproxy/reset zeroes the counts; these
// control requests are never counted or faulted.
//
// Usage: node faultproxy.js --target http://127.0.0.1:PORT [--host H]
//   [--port N] [--port-file FILE] [options above]
// Prints its port as the first line of stdout (and to FILE, atomically).
'use strict';
const http = require('http');
const fs = require('fs');

const FAULTS = ['503', '500', 'throttle', 'timeout', 'drop', 'reset', 'lose'];
const cfg = {
	target: null, host: '127.0.0.1', port: 0, portFile: null, stats: null,
	seed: 1, delayMs: 0, jitterMs: 0, match: null, schedule: [],
	throttle: 'http', throttleStatus: null, throttleBody: null, retryAfter: 0,
	p: Object.fromEntries(FAULTS.map((f) => [f, 0])),
};

function usage(msg) {
	process.stderr.write(`faultproxy.js: ${msg}\n` +
		'usage: node faultproxy.js --target URL [--port N] [--port-file F] [--stats F]\n' +
		'  [--seed N] [--delay-ms N] [--jitter-ms N] [--match TEXT] [--schedule LIST]\n' +
		'  [--p-503 P] [--p-500 P] [--p-throttle P] [--p-timeout P] [--p-drop P]\n' +
		'  [--p-reset P] [--p-lose P] [--throttle http|sqs|sqs-403]\n' +
		'  [--throttle-status N] [--throttle-body TEXT] [--retry-after S]\n');
	process.exit(64);
}

function number(name, v, min, max) {
	const n = Number(v);
	if (v === '' || !Number.isFinite(n) || n < min || n > max)
		throw new Error(`${name}: not a number in [${min}, ${max}]: ${v}`);
	return n;
}

// Applies one setting; the same names serve the command line and
// /__faultproxy/config.
function set(name, v) {
	const m = /^p-(.+)$/.exec(name);
	if (m) {
		if (!FAULTS.includes(m[1])) throw new Error(`unknown fault ${m[1]}`);
		cfg.p[m[1]] = number(name, v, 0, 1);
		return;
	}
	switch (name) {
	case 'target': cfg.target = new URL(/^[a-z]+:\/\//.test(v) ? v : `http://${v}`); break;
	case 'host': cfg.host = v; break;
	case 'port': cfg.port = number(name, v, 0, 65535); break;
	case 'port-file': cfg.portFile = v; break;
	case 'stats': cfg.stats = v; break;
	case 'seed': cfg.seed = number(name, v, 0, 2 ** 32 - 1); rng = mulberry32(cfg.seed); break;
	case 'delay-ms': cfg.delayMs = number(name, v, 0, 3600000); break;
	case 'jitter-ms': cfg.jitterMs = number(name, v, 0, 3600000); break;
	case 'match': cfg.match = v === '' ? null : v; break;
	case 'schedule':
		cfg.schedule = v === '' ? [] : v.split(',').map((s) => s.trim());
		for (const s of cfg.schedule)
			if (s !== 'ok' && !FAULTS.includes(s)) throw new Error(`unknown fault ${s} in schedule`);
		break;
	case 'throttle':
		if (!['http', 'sqs', 'sqs-403'].includes(v)) throw new Error(`unknown throttle mode ${v}`);
		cfg.throttle = v;
		break;
	case 'throttle-status': cfg.throttleStatus = number(name, v, 100, 599); break;
	case 'throttle-body': cfg.throttleBody = v; break;
	case 'retry-after': cfg.retryAfter = number(name, v, 0, 86400); break;
	default: throw new Error(`unknown option --${name}`);
	}
}

// mulberry32: small, seeded, good enough to draw faults reproducibly.
function mulberry32(a) {
	return () => {
		a = (a + 0x6d2b79f5) | 0;
		let t = Math.imul(a ^ (a >>> 15), 1 | a);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}
let rng = mulberry32(cfg.seed);

try {
	for (let i = 2; i < process.argv.length; i++) {
		const a = process.argv[i];
		if (!a.startsWith('--')) usage(`unexpected argument ${a}`);
		let name = a.slice(2), v;
		const eq = name.indexOf('=');
		if (eq >= 0) {
			v = name.slice(eq + 1);
			name = name.slice(0, eq);
		} else {
			if (i + 1 >= process.argv.length) usage(`${a} needs a value`);
			v = process.argv[++i];
		}
		set(name, v);
	}
} catch (e) {
	usage(e.message);
}
if (!cfg.target) usage('--target is required');

let stats;
function resetStats() {
	stats = {
		requests: 0, forwarded: 0, relayed: 0, delayed: 0, connections: 0,
		upstream_errors: 0, injected: Object.fromEntries(FAULTS.map((f) => [f, 0])),
	};
}
resetStats();

function draw(req) {
	if (cfg.match) {
		const what = `${req.method} ${req.url} ${req.headers['x-amz-target'] || ''}`;
		if (!what.includes(cfg.match)) return 'ok';
	}
	if (cfg.schedule.length > 0) return cfg.schedule.shift();
	let x = rng();
	for (const f of FAULTS) {
		if (x < cfg.p[f]) return f;
		x -= cfg.p[f];
	}
	return 'ok';
}

function sendJson(res, status, headers, obj) {
	const s = typeof obj === 'string' ? obj : JSON.stringify(obj);
	res.writeHead(status, Object.assign({ 'Content-Type': 'application/x-amz-json-1.0',
		'Content-Length': Buffer.byteLength(s) }, headers));
	res.end(s);
}

function throttle(res) {
	let status, headers = {}, body;
	if (cfg.throttle === 'sqs') {
		status = 400;
		headers['x-amzn-query-error'] = 'ThrottlingException;Sender';
		body = { __type: 'com.amazon.coral.availability#ThrottlingException', message: 'Rate exceeded' };
	} else if (cfg.throttle === 'sqs-403') {
		status = 403;
		headers['x-amzn-query-error'] = 'RequestThrottled;Sender';
		body = { __type: 'com.amazonaws.sqs#RequestThrottled', message: 'Request is throttled.' };
	} else {
		status = 429;
		body = { __type: 'TooManyRequestsException', message: 'injected throttling' };
	}
	if (cfg.retryAfter > 0) headers['Retry-After'] = String(cfg.retryAfter);
	if (cfg.throttleStatus) status = cfg.throttleStatus;
	if (cfg.throttleBody !== null) body = cfg.throttleBody;
	sendJson(res, status, headers, body);
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding',
	'te', 'trailer', 'upgrade']);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

function forward(req, res, body, lose) {
	stats.forwarded++;
	const headers = {};
	for (const [k, v] of Object.entries(req.headers))
		if (!HOP.has(k)) headers[k] = v;
	headers['content-length'] = String(body.length);
	const up = http.request({
		host: cfg.target.hostname, port: cfg.target.port || 80, method: req.method,
		path: req.url, headers, agent,
	}, (ur) => {
		if (lose) {
			ur.resume();
			ur.on('end', () => req.socket.destroy());
			return;
		}
		const out = {};
		for (const [k, v] of Object.entries(ur.headers))
			if (!HOP.has(k)) out[k] = v;
		res.writeHead(ur.statusCode, out);
		ur.pipe(res);
		ur.on('end', () => stats.relayed++);
	});
	up.on('error', (e) => {
		stats.upstream_errors++;
		if (lose) {
			req.socket.destroy();
		} else if (!res.headersSent) {
			sendJson(res, 502, {}, { __type: 'BadGateway', message: `faultproxy: upstream: ${e.message}` });
		} else {
			res.destroy();
		}
	});
	up.end(body);
}

function handle(req, res, body) {
	const fault = draw(req);
	if (fault !== 'ok') stats.injected[fault]++;
	switch (fault) {
	case '503':
		return sendJson(res, 503, {}, { __type: 'ServiceUnavailable', message: 'injected by faultproxy' });
	case '500':
		return sendJson(res, 500, {}, { __type: 'InternalError', message: 'injected by faultproxy' });
	case 'throttle':
		return throttle(res);
	case 'timeout':
		return undefined;
	case 'drop':
		return req.socket.destroy();
	case 'reset':
		return req.socket.resetAndDestroy ? req.socket.resetAndDestroy() : req.socket.destroy();
	case 'lose':
		return forward(req, res, body, true);
	default:
		return forward(req, res, body, false);
	}
}

function control(req, res, url) {
	try {
		if (url.pathname === '/__faultproxy/reset') resetStats();
		else if (url.pathname === '/__faultproxy/config')
			for (const [k, v] of url.searchParams) set(k, v);
		else if (url.pathname !== '/__faultproxy/stats') throw new Error('unknown control path');
	} catch (e) {
		return sendJson(res, 400, {}, { error: e.message });
	}
	return sendJson(res, 200, {}, Object.assign({}, stats, { config: {
		delay_ms: cfg.delayMs, jitter_ms: cfg.jitterMs, p: cfg.p, schedule: cfg.schedule,
		match: cfg.match, throttle: cfg.throttle } }));
}

const server = http.createServer((req, res) => {
	const url = new URL(req.url, 'http://x');
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		if (url.pathname.startsWith('/__faultproxy/')) return control(req, res, url);
		if (!req.socket._fpCounted) {
			req.socket._fpCounted = true;
			stats.connections++;
		}
		stats.requests++;
		const body = Buffer.concat(chunks);
		const delay = cfg.delayMs + (cfg.jitterMs ? Math.floor(rng() * (cfg.jitterMs + 1)) : 0);
		if (delay > 0) {
			stats.delayed++;
			setTimeout(() => handle(req, res, body), delay);
		} else {
			handle(req, res, body);
		}
		return undefined;
	});
});
server.keepAliveTimeout = 60000;
server.headersTimeout = 65000;
server.requestTimeout = 0;
server.on('connection', (sock) => sock.on('error', () => {}));
server.on('clientError', (err, sock) => {
	if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
});

function writeStats() {
	const s = JSON.stringify(stats) + '\n';
	if (cfg.stats && cfg.stats !== '-') {
		fs.writeFileSync(cfg.stats + '.tmp', s);
		fs.renameSync(cfg.stats + '.tmp', cfg.stats);
	} else {
		process.stdout.write(s);
	}
}

server.listen(cfg.port, cfg.host, () => {
	const port = server.address().port;
	process.stdout.write(`${port}\n`);
	if (cfg.portFile) {
		fs.writeFileSync(cfg.portFile + '.tmp', `${port}\n`);
		fs.renameSync(cfg.portFile + '.tmp', cfg.portFile);
	}
});
for (const s of ['SIGTERM', 'SIGINT']) {
	process.on(s, () => {
		writeStats();
		process.exit(0);
	});
}
