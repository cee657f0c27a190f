// tests/peers/fauxqs.js: runs the fauxqs SQS emulator (tests/node_modules)
// on 127.0.0.1 only, for tests/peers/fauxqs, which starts it in the
// background.
//
//   node fauxqs.js PORTFILE [PORT]
//
// Listens on PORT (0 or absent: a free port the kernel picks), checks that
// the SQS API answers (ListQueues through the socket), then writes the port
// to PORTFILE (atomically: a reader never sees half of it).  Stops cleanly
// on SIGTERM or SIGINT, within 3 seconds.  Requests are logged as JSON lines
// on stdout unless FAUXQS_LOGGER=false.  Queue URLs look like
// http://sqs.REGION.HOST:PORT/000000000000/NAME whatever address the client
// used: HOST is FAUXQS_HOST (default "localhost"), REGION the one in the
// request's SigV4 credential scope (else FAUXQS_DEFAULT_REGION, us-east-1).
// fauxqs 1.9.2 finds a queue by its exact URL string: use URLs as returned.
//
// fauxqs's own startFauxqs() listens on 0.0.0.0; this builds the same app
// with buildApp() and listens on loopback only.
'use strict';

const fs = require('node:fs');
const http = require('node:http');

function fail(msg) {
	process.stderr.write(`fauxqs.js: ${msg}\n`);
	process.exit(1);
}

function listQueues(port) {
	return new Promise((resolve, reject) => {
		const req = http.request({
			host: '127.0.0.1', port, method: 'POST', path: '/',
			headers: {
				'Content-Type': 'application/x-amz-json-1.0',
				'X-Amz-Target': 'AmazonSQS.ListQueues',
			},
			timeout: 5000,
		}, (res) => {
			let body = '';
			res.setEncoding('utf8');
			res.on('data', (c) => { body += c; });
			res.on('end', () => (res.statusCode === 200 ? resolve(body)
				: reject(new Error(`ListQueues answered ${res.statusCode}: ${body}`))));
		});
		req.on('timeout', () => req.destroy(new Error('ListQueues timed out')));
		req.on('error', reject);
		req.end('{}');
	});
}

async function main() {
	const [portFile, portArg = '0'] = process.argv.slice(2);
	if (!portFile || !/^\d+$/.test(portArg)) fail('usage: node fauxqs.js PORTFILE [PORT]');
	const { buildApp } = await import('fauxqs');
	const app = buildApp({
		logger: process.env.FAUXQS_LOGGER !== 'false',
		host: process.env.FAUXQS_HOST || undefined,
		defaultRegion: process.env.FAUXQS_DEFAULT_REGION || undefined,
	});

	let stopping = false;
	const stop = (sig) => {
		if (stopping) return;
		stopping = true;
		process.stderr.write(`fauxqs.js: ${sig}, stopping\n`);
		setTimeout(() => process.exit(1), 3000).unref();
		app.close().then(() => process.exit(0), () => process.exit(1));
	};
	process.on('SIGTERM', () => stop('SIGTERM'));
	process.on('SIGINT', () => stop('SIGINT'));

	await app.listen({ host: '127.0.0.1', port: Number(portArg) });
	const { port } = app.server.address();
	await listQueues(port);
	fs.writeFileSync(`${portFile}.tmp`, `${port}\n`);
	fs.renameSync(`${portFile}.tmp`, portFile);
	process.stderr.write(`fauxqs.js: listening on 127.0.0.1:${port}, pid ${process.pid}\n`);
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
