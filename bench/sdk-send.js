#!/usr/bin/env node
// bench/sdk-send.js: the contender for sqs-send in bench/queue.sh: the
// official AWS SDK for JavaScript v3 (@aws-sdk/client-sqs, from
// tests/node_modules) doing the same job the same way: each stdin line
// becomes one message, SendMessageBatch of up to 10 entries, N batches in
// flight at once, and each line written to stdout once its batch answered
// (as sqs-send does).  The SDK verifies MD5OfMessageBody itself (its
// middleware-sdk-sqs, on by default), as sqs-send does.
//
//   node bench/sdk-send.js --endpoint URL --queue-url URL [-j N] [--batch B]
//
// Per-entry failures are counted and reported on stderr; the summary line
// on stderr is JSON: {"sent":N,"failed":N,"elapsed_s":S} (S from the
// first request to the last answer, without Node's start-up).
'use strict';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const path = require('node:path');
const sqs = require(path.join(__dirname, '..', 'tests', 'node_modules', '@aws-sdk', 'client-sqs'));

function args() {
	const o = { endpoint: null, url: null, jobs: 8, batch: 10 };
	const a = process.argv.slice(2);
	for (let i = 0; i < a.length; i++) {
		const v = a[i + 1];
		switch (a[i]) {
		case '--endpoint': o.endpoint = v; i++; break;
		case '--queue-url': o.url = v; i++; break;
		case '-j': case '--jobs': o.jobs = Number(v); i++; break;
		case '--batch': o.batch = Number(v); i++; break;
		default:
			process.stderr.write(`sdk-send.js: unknown argument ${a[i]}\n`);
			process.exit(64);
		}
	}
	if (!o.endpoint || !o.url) {
		process.stderr.write('usage: sdk-send.js --endpoint URL --queue-url URL [-j N] [--batch B]\n');
		process.exit(64);
	}
	return o;
}

async function main() {
	const o = args();
	const env = process.env;
	const client = new sqs.SQSClient({
		endpoint: o.endpoint,
		region: env.AWS_REGION || 'us-east-1',
		credentials: {
			accessKeyId: env.AWS_ACCESS_KEY_ID || 'test',
			secretAccessKey: env.AWS_SECRET_ACCESS_KEY || 'test',
		},
	});
	let inFlight = 0, sent = 0, failed = 0, t0 = 0, eof = false;
	let pending = [];          // lines read, not yet in a batch
	let carry = '';
	const outParts = [];
	let wake = null;           // resolves when a batch finishes

	function flushOut(force) {
		if (outParts.length && (force || outParts.length >= 64)) {
			process.stdout.write(outParts.join(''));
			outParts.length = 0;
		}
	}

	function submit(lines) {
		if (!t0) t0 = process.hrtime.bigint();
		inFlight++;
		const Entries = lines.map((l, i) => ({ Id: String(i), MessageBody: l }));
		client.send(new sqs.SendMessageBatchCommand({ QueueUrl: o.url, Entries })).then((r) => {
			const bad = new Set((r.Failed || []).map((f) => f.Id));
			for (const f of r.Failed || [])
				process.stderr.write(`sdk-send.js: entry ${f.Id}: ${f.Code}: ${f.Message || ''}\n`);
			lines.forEach((l, i) => {
				if (bad.has(String(i))) { failed++; return; }
				sent++;
				outParts.push(l, '\n');
			});
		}, (err) => {
			failed += lines.length;
			process.stderr.write(`sdk-send.js: ${err.name}: ${err.message}\n`);
		}).finally(() => {
			inFlight--;
			flushOut(false);
			if (wake) { const w = wake; wake = null; w(); }
		});
	}

	// Reads stdin chunk by chunk, pausing while the batches in flight are
	// at the limit (backpressure, as sqs-send).
	const input = process.stdin;
	input.setEncoding('utf8');
	for await (const chunk of input) {
		const parts = (carry + chunk).split('\n');
		carry = parts.pop();
		for (const l of parts) if (l.length) pending.push(l);
		while (pending.length >= o.batch) {
			while (inFlight >= o.jobs) await new Promise((r) => { wake = r; });
			submit(pending.splice(0, o.batch));
		}
	}
	eof = true;
	if (carry.length) pending.push(carry);
	while (pending.length) {
		while (inFlight >= o.jobs) await new Promise((r) => { wake = r; });
		submit(pending.splice(0, o.batch));
	}
	while (inFlight > 0) await new Promise((r) => { wake = r; });
	flushOut(true);
	const elapsed = t0 ? Number(process.hrtime.bigint() - t0) / 1e9 : 0;
	process.stderr.write(JSON.stringify({ sent, failed, elapsed_s: elapsed, eof }) + '\n');
	client.destroy();
}

main().catch((err) => {
	process.stderr.write(`sdk-send.js: ${err && err.stack ? err.stack : err}\n`);
	process.exit(1);
});
