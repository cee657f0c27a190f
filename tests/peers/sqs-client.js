#!/usr/bin/env node
// tests/peers/sqs-client.js: a small command line over the official
// @aws-sdk/client-sqs, the oracle the integration tests hold chatpipe's SQS
// tools against: what chatpipe sends, this reads, and the reverse.
//
//   sqs-client.js [--endpoint URL] [--region R] COMMAND ARGS...
//
//   create NAME [--fifo] [--attr K=V]...   prints the QueueUrl (--fifo adds
//                                          FifoQueue=true and ".fifo" to NAME
//                                          when missing)
//   url NAME                               prints the QueueUrl (GetQueueUrl)
//   list [PREFIX]                          prints one QueueUrl a line
//   send URL BODY... [--group G] [--dedup D|auto|none] [--delay S]
//                    [--attr NAME=TYPE:VALUE]... [--batch]
//                                          one SendMessage per BODY (or one
//                                          SendMessageBatch with --batch);
//                                          prints one JSON line per message:
//                                          {Id?, MessageId, MD5OfMessageBody,
//                                          SequenceNumber?}; on a FIFO queue
//                                          the group defaults to "default"
//                                          and the dedup id to "auto" (a
//                                          fresh UUID per message); "none"
//                                          sends none (content-based dedup)
//   receive URL [--max N] [--wait S] [--visibility S] [--all] [--delete]
//                                          prints one JSON line per message:
//                                          {MessageId, Body, ReceiptHandle,
//                                          MD5OfBody, Attributes,
//                                          MessageAttributes}; --all repeats
//                                          until a receive comes back empty;
//                                          --delete acknowledges each batch
//   delete URL RECEIPT...                  DeleteMessage for each handle
//   visibility URL RECEIPT SECONDS         ChangeMessageVisibility
//   purge URL                              PurgeQueue
//   attributes URL [NAME...]               prints the Attributes (All) as JSON
//   delete-queue URL                       DeleteQueue
//
// Endpoint: --endpoint, else AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL or
// FAUXQS_ENDPOINT.  Region: --region, else AWS_REGION, AWS_DEFAULT_REGION,
// us-east-1.  Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and
// AWS_SESSION_TOKEN), "test"/"test" when unset.  No retries: what the peer
// answers is what the test sees.  Errors go to stderr as
// "sqs-client.js: CODE: message" with exit status 1; usage errors exit 2.
'use strict';

// The SDK warns on every run that its releases from 2027 on need Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { randomUUID } = require('node:crypto');
const sqs = require('@aws-sdk/client-sqs');

const prog = 'sqs-client.js';

function usage(msg) {
	if (msg) process.stderr.write(`${prog}: ${msg}\n`);
	process.stderr.write(`usage: ${prog} [--endpoint URL] [--region R] `
		+ 'create|url|list|send|receive|delete|visibility|purge|attributes|delete-queue ARGS...\n');
	process.exit(2);
}

// parse(argv, spec): spec maps an option name to 'flag', 'value' or 'list'.
function parse(argv, spec) {
	const opts = {};
	const args = [];
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--') { args.push(...argv.slice(i + 1)); break; }
		if (!a.startsWith('--') || a === '-') { args.push(a); continue; }
		let name = a.slice(2);
		let value;
		const eq = name.indexOf('=');
		if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
		const kind = spec[name];
		if (!kind) usage(`unknown option --${name}`);
		if (kind === 'flag') { opts[name] = true; continue; }
		if (value === undefined) {
			if (i + 1 >= argv.length) usage(`--${name} needs a value`);
			value = argv[++i];
		}
		if (kind === 'list') (opts[name] = opts[name] || []).push(value);
		else opts[name] = value;
	}
	return { opts, args };
}

function int(s, name) {
	if (s === undefined) return undefined;
	if (!/^\d+$/.test(s)) usage(`--${name} takes a whole number, not "${s}"`);
	return Number(s);
}

function keyValues(list) {
	const out = {};
	for (const kv of list || []) {
		const eq = kv.indexOf('=');
		if (eq <= 0) usage(`expected NAME=VALUE, not "${kv}"`);
		out[kv.slice(0, eq)] = kv.slice(eq + 1);
	}
	return out;
}

// NAME=TYPE:VALUE, TYPE String, Number[.x] or Binary[.x] (VALUE in base64).
function messageAttributes(list) {
	if (!list) return undefined;
	const out = {};
	for (const [name, tv] of Object.entries(keyValues(list))) {
		const colon = tv.indexOf(':');
		if (colon <= 0) usage(`expected NAME=TYPE:VALUE, not "${name}=${tv}"`);
		const DataType = tv.slice(0, colon);
		const value = tv.slice(colon + 1);
		out[name] = DataType.startsWith('Binary')
			? { DataType, BinaryValue: Buffer.from(value, 'base64') }
			: { DataType, StringValue: value };
	}
	return out;
}

function printJson(v) {
	process.stdout.write(`${JSON.stringify(v, (k, x) => (x instanceof Uint8Array
		? Buffer.from(x).toString('base64') : x))}\n`);
}

function isFifo(url) {
	return /\.fifo$/.test(url);
}

function entryFor(body, o, url) {
	const e = { MessageBody: body };
	if (o.delay !== undefined) e.DelaySeconds = int(o.delay, 'delay');
	const attrs = messageAttributes(o.attr);
	if (attrs) e.MessageAttributes = attrs;
	if (o.group !== undefined || isFifo(url)) e.MessageGroupId = o.group ?? 'default';
	const dedup = o.dedup ?? (isFifo(url) ? 'auto' : 'none');
	if (dedup === 'auto') e.MessageDeduplicationId = randomUUID();
	else if (dedup !== 'none') e.MessageDeduplicationId = dedup;
	return e;
}

const commands = {
	async create(c, argv) {
		const { opts, args } = parse(argv, { fifo: 'flag', attr: 'list' });
		if (args.length !== 1) usage('create NAME [--fifo] [--attr K=V]...');
		let name = args[0];
		const Attributes = keyValues(opts.attr);
		if (opts.fifo) {
			Attributes.FifoQueue = 'true';
			if (!isFifo(name)) name += '.fifo';
		}
		const r = await c.send(new sqs.CreateQueueCommand({ QueueName: name, Attributes }));
		console.log(r.QueueUrl);
	},

	async url(c, argv) {
		const { args } = parse(argv, {});
		if (args.length !== 1) usage('url NAME');
		const r = await c.send(new sqs.GetQueueUrlCommand({ QueueName: args[0] }));
		console.log(r.QueueUrl);
	},

	async list(c, argv) {
		const { args } = parse(argv, {});
		if (args.length > 1) usage('list [PREFIX]');
		const r = await c.send(new sqs.ListQueuesCommand({ QueueNamePrefix: args[0] }));
		for (const u of r.QueueUrls || []) console.log(u);
	},

	async send(c, argv) {
		const { opts, args } = parse(argv, {
			group: 'value', dedup: 'value', delay: 'value', attr: 'list', batch: 'flag',
		});
		if (args.length < 2) usage('send URL BODY... [options]');
		const [QueueUrl, ...bodies] = args;
		if (opts.batch) {
			const Entries = bodies.map((b, i) => ({ Id: String(i), ...entryFor(b, opts, QueueUrl) }));
			const r = await c.send(new sqs.SendMessageBatchCommand({ QueueUrl, Entries }));
			for (const s of r.Successful || []) {
				printJson({
					Id: s.Id, MessageId: s.MessageId, MD5OfMessageBody: s.MD5OfMessageBody,
					SequenceNumber: s.SequenceNumber,
				});
			}
			for (const f of r.Failed || []) {
				process.stderr.write(`${prog}: entry ${f.Id}: ${f.Code}: ${f.Message || ''}\n`);
			}
			if ((r.Failed || []).length) process.exitCode = 1;
			return;
		}
		for (const b of bodies) {
			const r = await c.send(new sqs.SendMessageCommand({ QueueUrl, ...entryFor(b, opts, QueueUrl) }));
			printJson({
				MessageId: r.MessageId, MD5OfMessageBody: r.MD5OfMessageBody,
				SequenceNumber: r.SequenceNumber,
			});
		}
	},

	async receive(c, argv) {
		const { opts, args } = parse(argv, {
			max: 'value', wait: 'value', visibility: 'value', all: 'flag', delete: 'flag',
		});
		if (args.length !== 1) usage('receive URL [--max N] [--wait S] [--visibility S] [--all] [--delete]');
		const QueueUrl = args[0];
		const input = {
			QueueUrl,
			MaxNumberOfMessages: int(opts.max, 'max') ?? 1,
			WaitTimeSeconds: int(opts.wait, 'wait') ?? 0,
			VisibilityTimeout: int(opts.visibility, 'visibility'),
			MessageSystemAttributeNames: ['All'],
			AttributeNames: ['All'],
			MessageAttributeNames: ['All'],
		};
		for (;;) {
			const r = await c.send(new sqs.ReceiveMessageCommand(input));
			const msgs = r.Messages || [];
			for (const m of msgs) {
				printJson({
					MessageId: m.MessageId, Body: m.Body, ReceiptHandle: m.ReceiptHandle,
					MD5OfBody: m.MD5OfBody, Attributes: m.Attributes || {},
					MessageAttributes: m.MessageAttributes || {},
				});
			}
			if (opts.delete && msgs.length) {
				const Entries = msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle }));
				const d = await c.send(new sqs.DeleteMessageBatchCommand({ QueueUrl, Entries }));
				if ((d.Failed || []).length) {
					throw new Error(`DeleteMessageBatch failed: ${JSON.stringify(d.Failed)}`);
				}
			}
			if (!opts.all || msgs.length === 0) break;
		}
	},

	async delete(c, argv) {
		const { args } = parse(argv, {});
		if (args.length < 2) usage('delete URL RECEIPT...');
		const [QueueUrl, ...handles] = args;
		for (const ReceiptHandle of handles) {
			await c.send(new sqs.DeleteMessageCommand({ QueueUrl, ReceiptHandle }));
		}
	},

	async visibility(c, argv) {
		const { args } = parse(argv, {});
		if (args.length !== 3) usage('visibility URL RECEIPT SECONDS');
		await c.send(new sqs.ChangeMessageVisibilityCommand({
			QueueUrl: args[0], ReceiptHandle: args[1], VisibilityTimeout: int(args[2], 'SECONDS'),
		}));
	},

	async purge(c, argv) {
		const { args } = parse(argv, {});
		if (args.length !== 1) usage('purge URL');
		await c.send(new sqs.PurgeQueueCommand({ QueueUrl: args[0] }));
	},

	async attributes(c, argv) {
		const { args } = parse(argv, {});
		if (args.length < 1) usage('attributes URL [NAME...]');
		const [QueueUrl, ...names] = args;
		const r = await c.send(new sqs.GetQueueAttributesCommand({
			QueueUrl, AttributeNames: names.length ? names : ['All'],
		}));
		printJson(r.Attributes || {});
	},

	async 'delete-queue'(c, argv) {
		const { args } = parse(argv, {});
		if (args.length !== 1) usage('delete-queue URL');
		await c.send(new sqs.DeleteQueueCommand({ QueueUrl: args[0] }));
	},
};

async function main() {
	const argv = process.argv.slice(2);
	const global = { endpoint: undefined, region: undefined };
	while (argv.length && /^--(endpoint|region)(=|$)/.test(argv[0])) {
		const a = argv.shift();
		const eq = a.indexOf('=');
		const name = a.slice(2, eq >= 0 ? eq : undefined);
		if (eq >= 0) global[name] = a.slice(eq + 1);
		else if (argv.length) global[name] = argv.shift();
		else usage(`${a} needs a value`);
	}
	const cmd = argv.shift();
	if (!cmd || !Object.prototype.hasOwnProperty.call(commands, cmd)) usage(cmd && `unknown command "${cmd}"`);

	const env = process.env;
	const endpoint = global.endpoint || env.AWS_ENDPOINT_URL_SQS || env.AWS_ENDPOINT_URL
		|| env.FAUXQS_ENDPOINT;
	if (!endpoint) usage('no endpoint: give --endpoint or set AWS_ENDPOINT_URL');
	const client = new sqs.SQSClient({
		endpoint,
		region: global.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
		credentials: {
			accessKeyId: env.AWS_ACCESS_KEY_ID || 'test',
			secretAccessKey: env.AWS_SECRET_ACCESS_KEY || 'test',
			sessionToken: env.AWS_SESSION_TOKEN || undefined,
		},
		maxAttempts: 1,
		requestHandler: { connectionTimeout: 5000, requestTimeout: 60000 },
	});
	try {
		await commands[cmd](client, argv);
	} finally {
		client.destroy();
	}
}

main().catch((err) => {
	const code = err.name || err.Code || 'Error';
	process.stderr.write(`${prog}: ${code}: ${err.message}\n`);
	process.exit(1);
});
