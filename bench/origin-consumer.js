#!/usr/bin/env node
// bench/origin-consumer.js: the consumer of the origin article
// (reference/origin-article.txt, "The Consumer Architecture"), rewritten
// in Node on the official AWS SDK for JavaScript v3, as the contender for
// "sqs-poll | sqs-delete" in bench/queue.sh.  Its shape, kept as written:
//
//   - one polling loop: ReceiveMessage with the article's parameters
//     (MaxNumberOfMessages left at its default, 1; VisibilityTimeout 60;
//     WaitTimeSeconds 20 here, the article's 10 matters only on an empty
//     queue), each message unmarshalled (JSON.parse of the body) and put
//     on a job channel of capacity numWorkers*2 (the poller blocks while
//     it is full, as a Go channel send does);
//   - numWorkers = 2 workers, each taking one job at a time, "processing"
//     it (nothing here: both contenders only move messages) and then
//     DeleteMessage for it, one call per message.
//
//   node bench/origin-consumer.js --endpoint URL --queue-url URL --max N
//       [--workers 2] [--wait 20]
//
// Stops once N messages are deleted (so an empty queue's last long poll
// does not count) and prints on stderr one JSON line:
// {"deleted":N,"received":N,"elapsed_s":S} (S from the first receive to
// the N-th delete).
'use strict';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const path = require('node:path');
const sqs = require(path.join(__dirname, '..', 'tests', 'node_modules', '@aws-sdk', 'client-sqs'));

function args() {
	const o = { endpoint: null, url: null, max: 0, workers: 2, wait: 20 };
	const a = process.argv.slice(2);
	for (let i = 0; i < a.length; i++) {
		const v = a[++i];
		switch (a[i - 1]) {
		case '--endpoint': o.endpoint = v; break;
		case '--queue-url': o.url = v; break;
		case '--max': o.max = Number(v); break;
		case '--workers': o.workers = Number(v); break;
		case '--wait': o.wait = Number(v); break;
		default:
			process.stderr.write(`origin-consumer.js: unknown argument ${a[i - 1]}\n`);
			process.exit(64);
		}
	}
	if (!o.endpoint || !o.url || !(o.max > 0)) {
		process.stderr.write('usage: origin-consumer.js --endpoint URL --queue-url URL --max N [--workers 2] [--wait 20]\n');
		process.exit(64);
	}
	return o;
}

// A bounded channel, like Go's make(chan T, cap): send waits while full,
// receive waits while empty; close() wakes every receiver with undefined.
class Channel {
	constructor(cap) { this.cap = cap; this.items = []; this.senders = []; this.receivers = []; this.closed = false; }
	async send(v) {
		while (this.items.length >= this.cap && !this.closed)
			await new Promise((r) => this.senders.push(r));
		if (this.closed) return;
		if (this.receivers.length) this.receivers.shift()(v);
		else this.items.push(v);
	}
	async receive() {
		if (this.items.length) {
			const v = this.items.shift();
			if (this.senders.length) this.senders.shift()();
			return v;
		}
		if (this.closed) return undefined;
		return new Promise((r) => this.receivers.push(r));
	}
	close() {
		this.closed = true;
		for (const r of this.receivers.splice(0)) r(undefined);
		for (const s of this.senders.splice(0)) s();
	}
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
	const jobs = new Channel(o.workers * 2);
	let received = 0, deleted = 0, errors = 0, done = false;
	const t0 = process.hrtime.bigint();
	let tEnd = 0n;

	const poller = (async () => {
		while (!done) {
			let out;
			try {
				out = await client.send(new sqs.ReceiveMessageCommand({
					QueueUrl: o.url, MaxNumberOfMessages: 1,
					WaitTimeSeconds: o.wait, VisibilityTimeout: 60,
				}));
			} catch (err) {
				errors++;
				process.stderr.write(`origin-consumer.js: receive: ${err.name}: ${err.message}\n`);
				continue;
			}
			for (const m of out.Messages || []) {
				received++;
				let rec;
				try { rec = JSON.parse(m.Body); } catch { rec = m.Body; }
				await jobs.send({ rec, receiptHandle: m.ReceiptHandle });
			}
		}
	})();

	async function worker() {
		for (;;) {
			const job = await jobs.receive();
			if (job === undefined) return;
			// processSingleMessage: nothing to persist in this benchmark.
			try {
				await client.send(new sqs.DeleteMessageCommand({ QueueUrl: o.url, ReceiptHandle: job.receiptHandle }));
				deleted++;
			} catch (err) {
				errors++;
				process.stderr.write(`origin-consumer.js: delete: ${err.name}: ${err.message}\n`);
			}
			if (deleted >= o.max && !done) {
				done = true;
				tEnd = process.hrtime.bigint();
				jobs.close();
			}
		}
	}
	const workers = [];
	for (let i = 0; i < o.workers; i++) workers.push(worker());
	await Promise.all(workers);
	const elapsed = Number(tEnd - t0) / 1e9;
	process.stderr.write(JSON.stringify({ deleted, received, errors, elapsed_s: elapsed }) + '\n');
	// The poller may sit in a long poll; what it receives comes back after
	// its visibility timeout.  Do not wait for it.
	client.destroy();
	process.exit(0);
	await poller;
}

main().catch((err) => {
	process.stderr.write(`origin-consumer.js: ${err && err.stack ? err.stack : err}\n`);
	process.exit(1);
});
