#!/usr/bin/env node
// awsmeta.js: a loopback fake of the two AWS metadata services that hand
// out temporary credentials, for the tests (no npm dependencies):
//
// EC2 IMDSv2 (as documented for the instance metadata service):
//   PUT /latest/api/token          needs X-aws-ec2-metadata-token-ttl-seconds
//                                  (1..21600, else 400); refuses a request
//                                  with X-Forwarded-For (403); answers the
//                                  token (text) and echoes the TTL header
//   GET /latest/meta-data/...      needs X-aws-ec2-metadata-token with a
//                                  live token, else 401 (unless v1 is on)
//     iam/security-credentials/        the role name
//     iam/security-credentials/ROLE    {"Code":"Success","LastUpdated",
//                                      "Type":"AWS-HMAC","AccessKeyId",
//                                      "SecretAccessKey","Token","Expiration"}
//     placement/region                 the region
//
// ECS/EKS container credentials:
//   GET /v2/credentials/ID  or  GET /container/...
//     with the Authorization header equal to --container-token (or the
//     content of --container-token-file, read at each request) when one is
//     set, else 401 {"code":"AccessDenied","message":...}; answers
//     {"AccessKeyId","SecretAccessKey","Token","Expiration","RoleArn"}.
//   It is also an HTTP proxy for http://169.254.170.2 only, so a client
//   with http_proxy pointing here exercises AWS_CONTAINER_CREDENTIALS_
//   RELATIVE_URI unchanged; any other absolute-form target is refused
//   (403, counted), so nothing ever leaves the machine.
//
// Every credential is new: AccessKeyId "ASIA" + "IMDS"|"ECSC" + a 12-digit
// serial, random secret and token, Expiration now + ttl seconds (whole
// seconds, as the real services write it), so tests see refreshes.
//
//   GET /__stats    counters: {token_puts, token_refused, imds_gets,
//                   imds_unauthorized, role_list, role_creds, region,
//                   container, container_unauthorized, proxied,
//                   proxy_refused, issued, last_container_path,
//                   last_proxy_host}
//   GET /__reset    zero the counters
//   GET /__config?ttl=S&v1=0|1&role=NAME&region=R   change settings
//
// Usage: node awsmeta.js [--host 127.0.0.1] [--port 0] [--port-file FILE]
//   [--ttl 21600] [--role NAME] [--region R] [--container-token T]
//   [--container-token-file F] [--v1] [-v]
// Prints the port on stdout (and writes it to FILE, atomically).
// SIGTERM/SIGINT: exits at once.
'use strict';
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');

const cfg = {
	host: '127.0.0.1', port: 0, portFile: null, ttl: 21600, role: 'chatpipe-test-role',
	region: 'us-west-2', containerToken: null, containerTokenFile: null, v1: false,
	verbose: false,
};
for (let i = 2; i < process.argv.length; i++) {
	const a = process.argv[i];
	const next = () => {
		if (i + 1 >= process.argv.length) usage(`${a} needs a value`);
		return process.argv[++i];
	};
	if (a === '--host') cfg.host = next();
	else if (a === '--port') cfg.port = Number(next());
	else if (a === '--port-file') cfg.portFile = next();
	else if (a === '--ttl') cfg.ttl = Number(next());
	else if (a === '--role') cfg.role = next();
	else if (a === '--region') cfg.region = next();
	else if (a === '--container-token') cfg.containerToken = next();
	else if (a === '--container-token-file') cfg.containerTokenFile = next();
	else if (a === '--v1') cfg.v1 = true;
	else if (a === '-v' || a === '--verbose') cfg.verbose = true;
	else usage(`unknown argument ${a}`);
}

function usage(msg) {
	process.stderr.write(`awsmeta.js: ${msg}\n`);
	process.exit(64);
}

let stats;
function resetStats() {
	stats = {
		token_puts: 0, token_refused: 0, imds_gets: 0, imds_unauthorized: 0,
		role_list: 0, role_creds: 0, region: 0, container: 0,
		container_unauthorized: 0, proxied: 0, proxy_refused: 0, issued: 0,
		last_container_path: null, last_proxy_host: null,
	};
}
resetStats();

let serial = 0;
const tokens = new Map(); // token -> expiry (ms)

function rfc3339(ms) {
	return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}

function credentials(kind) {
	serial++;
	stats.issued++;
	const now = Date.now();
	return {
		AccessKeyId: `ASIA${kind}${String(serial).padStart(12, '0')}`,
		SecretAccessKey: crypto.randomBytes(30).toString('base64'),
		Token: crypto.randomBytes(150).toString('base64'),
		Expiration: rfc3339(now + cfg.ttl * 1000),
		LastUpdated: rfc3339(now),
	};
}

function send(res, code, body, headers = {}) {
	const text = typeof body === 'string' ? body : JSON.stringify(body);
	res.writeHead(code, Object.assign({
		'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json',
		'Content-Length': Buffer.byteLength(text),
	}, headers));
	res.end(text);
}

function containerToken() {
	if (cfg.containerTokenFile) {
		try {
			return fs.readFileSync(cfg.containerTokenFile, 'utf8').replace(/[\r\n]+$/, '');
		} catch (e) {
			return null;
		}
	}
	return cfg.containerToken;
}

function container(req, res, path) {
	const want = containerToken();
	if (want !== null && req.headers.authorization !== want) {
		stats.container_unauthorized++;
		return send(res, 401, { code: 'AccessDenied', message: 'Unable to authenticate the request' });
	}
	stats.container++;
	stats.last_container_path = path;
	const c = credentials('ECSC');
	send(res, 200, {
		AccessKeyId: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey, Token: c.Token,
		Expiration: c.Expiration, RoleArn: `arn:aws:iam::123456789012:role/${cfg.role}`,
	});
}

function imdsToken(req) {
	const t = req.headers['x-aws-ec2-metadata-token'];
	if (t === undefined) return null;
	const exp = tokens.get(t);
	return exp !== undefined && exp > Date.now() ? t : false;
}

function imds(req, res, path) {
	if (path === '/latest/api/token') {
		if (req.method !== 'PUT') return send(res, 405, 'Method Not Allowed');
		if (cfg.v1) { stats.token_refused++; return send(res, 403, 'Forbidden'); }
		if (req.headers['x-forwarded-for'] !== undefined) {
			stats.token_refused++;
			return send(res, 403, 'Forbidden');
		}
		const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
		if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) {
			stats.token_refused++;
			return send(res, 400, 'Bad Request');
		}
		stats.token_puts++;
		const t = 'AQAEA' + crypto.randomBytes(40).toString('base64url');
		tokens.set(t, Date.now() + ttl * 1000);
		return send(res, 200, t, { 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
	}
	if (req.method !== 'GET') return send(res, 405, 'Method Not Allowed');
	const tok = imdsToken(req);
	if (tok === false || (tok === null && !cfg.v1)) {
		stats.imds_unauthorized++;
		return send(res, 401, 'Unauthorized');
	}
	stats.imds_gets++;
	const base = '/latest/meta-data/iam/security-credentials/';
	if (path === base) {
		stats.role_list++;
		return send(res, 200, cfg.role);
	}
	if (path === base + cfg.role) {
		stats.role_creds++;
		const c = credentials('IMDS');
		return send(res, 200, Object.assign({ Code: 'Success', LastUpdated: c.LastUpdated,
			Type: 'AWS-HMAC' }, c));
	}
	if (path === '/latest/meta-data/placement/region') {
		stats.region++;
		return send(res, 200, cfg.region);
	}
	return send(res, 404, 'Not Found');
}

const server = http.createServer((req, res) => {
	req.resume();
	req.on('end', () => {
		let u;
		const absolute = /^[a-z][a-z0-9+.-]*:\/\//i.test(req.url);
		try {
			u = new URL(req.url, 'http://localhost');
		} catch (e) {
			return send(res, 400, 'Bad Request');
		}
		if (cfg.verbose)
			process.stderr.write(`awsmeta: ${req.method} ${req.url} token=${req.headers['x-aws-ec2-metadata-token'] ? 'yes' : 'no'}\n`);
		if (absolute) {
			// A proxy request: only the ECS link-local address is served.
			stats.last_proxy_host = u.host;
			if (u.protocol !== 'http:' || u.host !== '169.254.170.2') {
				stats.proxy_refused++;
				return send(res, 403, { code: 'ProxyRefused', message: `awsmeta.js proxies only http://169.254.170.2, not ${u.protocol}//${u.host}` });
			}
			stats.proxied++;
			return container(req, res, u.pathname);
		}
		const path = u.pathname;
		if (path === '/__stats') return send(res, 200, stats);
		if (path === '/__reset') { resetStats(); return send(res, 200, {}); }
		if (path === '/__config') {
			const q = u.searchParams;
			if (q.has('ttl')) cfg.ttl = Number(q.get('ttl'));
			if (q.has('v1')) cfg.v1 = q.get('v1') === '1';
			if (q.has('role')) cfg.role = q.get('role');
			if (q.has('region')) cfg.region = q.get('region');
			return send(res, 200, { ttl: cfg.ttl, v1: cfg.v1, role: cfg.role, region: cfg.region });
		}
		if (path.startsWith('/latest/')) return imds(req, res, path);
		if (req.method === 'GET' && (path.startsWith('/v2/credentials/') || path.startsWith('/container/')))
			return container(req, res, path);
		return send(res, 404, 'Not Found');
	});
});
server.on('connect', (req, sock) => {
	// No tunnels: https through this proxy is refused.
	stats.proxy_refused++;
	sock.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
});
server.keepAliveTimeout = 1000;

server.listen(cfg.port, cfg.host, () => {
	const port = server.address().port;
	console.log(port);
	if (cfg.portFile) {
		fs.writeFileSync(cfg.portFile + '.tmp', `${port}\n`);
		fs.renameSync(cfg.portFile + '.tmp', cfg.portFile);
	}
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
