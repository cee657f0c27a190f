#!/usr/bin/env node
// bench/sqs-drain.js: how fast the SQS emulator itself gives messages out:
// the ceiling bench/queue.sh holds "sqs-poll | sqs-delete" against.  C
// concurrent loops, each ReceiveMessage of 10 then DeleteMessageBatch of
// what came, again and again, until N messages are deleted.  Two clients:
//
//   --client sdk   the official @aws-sdk/client-sqs v3 (signed requests,
//                  MD5 checked: what a careful Node consumer would do)
//   --client raw   bare keep-alive HTTP with the same JSON requests,
//                  unsigned (fauxqs checks no signature), nothing checked:
//                  as little client CPU as possible, so on a small machine
//                  the emulator gets the most of it
//
//   node bench/sqs-drain.js --endpoint URL --queue-url URL --max N
//       [--client sdk|raw] [-c 16] [--wait 1] [--attrs]
//
// --attrs asks ReceiveMessage for every system and message attribute, as
// sqs-poll does (its envelopes carry them): the same work for the emulator.
//
// Prints on stderr one JSON line {"deleted":N,"elapsed_s":S,...} (S from
// the first receive to the N-th delete).
'use strict';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const http = require('node:http');
const path = require('node:path');

function args() {
	const o = { endpoint: null, url: null, max: 0, client: 'raw', conc: 16, wait: 1, attrs: false };
	const a = process.argv.slice(2);
	for (let i = 0; i < a.length; i++) {
		if (a[i] === '--attrs') { o.attrs = true; continue; }
		const v = a[++i];
		switch (a[i - 1]) {
		case '--endpoint': o.endpoint = v; break;
		case '--queue-url': o.url = v; break;
		case '--max': o.max = Number(v); break;
		case '--client': o.client = v; break;
		case '-c': o.conc = Number(v); break;
		case '--wait': o.wait = Number(v); break;
		default:
			process.stderr.write(`sqs-drain.js: unknown argument ${a[i - 1]}\n`);
			process.exit(64);
		}
	}
	if (!o.endpoint || !o.url || !(o.max > 0) || !['sdk', 'raw'].includes(o.client)) {
		process.stderr.write('usage: sqs-drain.js --endpoint URL --queue-url URL --max N [--client sdk|raw] [-c N] [--wait S]\n');
		process.exit(64);
	}
	return o;
}

// What sqs-poll asks for (lib/queue.c, cp_queue_receive).
function attrs(o) {
	return o.attrs ? { MessageSystemAttributeNames: ['All'], AttributeNames: ['All'], MessageAttributeNames: ['All'] } : {};
}

function rawClient(o) {
	const u = new URL(o.endpoint);
	const agent = new http.Agent({ keepAlive: true, maxSockets: o.conc * 2 });
	function call(op, req) {
		const body = JSON.stringify(req);
		return new Promise((resolve, reject) => {
			const r = http.request({
				host: u.hostname, port: u.port, method: 'POST', path: '/', agent,
				headers: {
					'Content-Type': 'application/x-amz-json-1.0',
					'X-Amz-Target': `AmazonSQS.${op}`,
					'Content-Length': Buffer.byteLength(body),
				},
			}, (res) => {
				const chunks = [];
				res.on('data', (c) => chunks.push(c));
				res.on('end', () => {
					const text = Buffer.concat(chunks).toString('utf8');
					if (res.statusCode !== 200) reject(new Error(`${op}: HTTP ${res.statusCode}: ${text}`));
					else resolve(JSON.parse(text));
				});
			});
			r.on('error', reject);
			r.end(body);
		});
	}
	return {
		receive: (max, wait) => call('ReceiveMessage', { QueueUrl: o.url, MaxNumberOfMessages: max, WaitTimeSeconds: wait, ...attrs(o) }),
		deleteBatch: (entries) => call('DeleteMessageBatch', { QueueUrl: o.url, Entries: entries }),
		destroy: () => agent.destroy(),
	};
}

function sdkClient(o) {
	const sqs = require(path.join(__dirname, '..', 'tests', 'node_modules', '@aws-sdk', 'client-sqs'));
	const env = process.env;
	const c = new sqs.SQSClient({
		endpoint: o.endpoint,
		region: env.AWS_REGION || 'us-east-1',
		credentials: {
			accessKeyId: env.AWS_ACCESS_KEY_ID || 'test',
			secretAccessKey: env.AWS_SECRET_ACCESS_KEY || 'test',
		},
		requestHandler: { httpAgent: new http.Agent({ keepAlive: true, maxSockets: o.conc * 2 }) },
	});
	return {
		receive: (max, wait) => c.send(new sqs.ReceiveMessageCommand({ QueueUrl: o.url, MaxNumberOfMessages: max, WaitTimeSeconds: wait, ...attrs(o) })),
		deleteBatch: (entries) => c.send(new sqs.DeleteMessageBatchCommand({ QueueUrl: o.url, Entries: entries })),
		destroy: () => c.destroy(),
	};
}

async function main() {
	const o = args();
	const c = o.client === 'sdk' ? sdkClient(o) : rawClient(o);
	let deleted = 0, receives = 0, empty = 0, errors = 0, done = false, tEnd = 0n;
	const t0 = process.hrtime.bigint();
	async function loop() {
		while (!done) {
			let r;
			try {
				r = await c.receive(10, o.wait);
			} catch (err) {
				errors++;
				process.stderr.write(`sqs-drain.js: ${err.message}\n`);
				continue;
			}
			receives++;
			const msgs = r.Messages || [];
			if (!msgs.length) { empty++; continue; }
			try {
				const d = await c.deleteBatch(msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })));
				deleted += (d.Successful || []).length;
			} catch (err) {
				errors++;
				process.stderr.write(`sqs-drain.js: ${err.message}\n`);
			}
			if (deleted >= o.max && !done) {
				done = true;
				tEnd = process.hrtime.bigint();
			}
		}
	}
	const loops = [];
	for (let i = 0; i < o.conc; i++) loops.push(loop());
	await Promise.all(loops);
	const elapsed = Number(tEnd - t0) / 1e9;
	process.stderr.write(JSON.stringify({ client: o.client, conc: o.conc, attrs: o.attrs, deleted, receives, empty, errors, elapsed_s: elapsed }) + '\n');
	c.destroy();
}

main().catch((err) => {
	process.stderr.write(`sqs-drain.js: ${err && err.stack ? err.stack : err}\n`);
	process.exit(1);
});
