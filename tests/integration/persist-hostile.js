// persist-hostile.js: the input of tests/integration/persist.t, one line per
// case, and what each line must become.
//
//   node persist-hostile.js make NAME
//     writes NAME.jsonl (the lines) and NAME.expect (one JSON line per input
//     line: {"line":N,"stored":[{id,role,hex,at}]} for a line that must be
//     stored, {"line":N,"reject":"substring"} for one that must be rejected)
//   node persist-hostile.js check NAME OUT REJECTS ROWS
//     checks chat-persist's stdout OUT (exactly the stored lines, verbatim),
//     REJECTS (one per rejected line, with its line number and a reason
//     containing the substring) and ROWS (the messages table as tab-separated
//     message_id, role, HEX(content), created_at: exactly the expected
//     messages, content byte for byte); prints what differs, exits 1 if any
'use strict';
const fs = require('fs');
const [mode, name] = process.argv.slice(2);
if (mode === 'check') {
	check(...process.argv.slice(4));
	process.exit(process.exitCode || 0);
}
const lines = [];
const expect = [];

const hex = (s) => Buffer.from(s, 'utf8').toString('hex');
let next = 0;
const msg = (role, content, timestamp, extra = {}) =>
	({ id: `m-${++next}`, role, content, timestamp, ...extra });
const pair = (conv, u, a, extra = {}) => ({
	workspace_id: 7, conversation_id: conv, store_id: 3, session_id: `s-${conv}`,
	user_message: u, assistant_message: a, human_agent_message: null,
	handoff_messages: false, ...extra,
});
// A line that must be stored: the messages it stores, in order.
function stored(record, msgs, at, raw) {
	lines.push(raw !== undefined ? raw : JSON.stringify(record));
	expect.push({ line: lines.length, stored: msgs.map((m, i) => ({
		id: m.id, role: m.role || ['USER', 'LLM'][i], hex: hex(m.content), at: at[i],
	})) });
}
function rejected(raw, why) {
	lines.push(typeof raw === 'string' ? raw : JSON.stringify(raw));
	expect.push({ line: lines.length, reject: why });
}
const T = '2026-11-28T10:00:00Z', TS = '2026-11-28 10:00:00.000000';
const simple = (conv, content, answer = `re: ${content}`) => {
	const u = msg('USER', content, T), a = msg('LLM', answer, '2026-11-28T10:00:01Z');
	stored(pair(conv, u, a), [u, a], [TS, '2026-11-28 10:00:01.000000']);
};

// Content that breaks naive SQL or encodings.
simple(1, "It's 'single' and \"double\" quoted");
simple(2, 'back\\slash \\\\ and \\\' and \\0 and %_ wildcards');
simple(3, "'); DROP TABLE messages; --");
simple(4, 'Robert\'); DROP TABLE conversations;-- \\"; SELECT SLEEP(10); #');
simple(5, 'a NUL \u0000 in the middle, and one at the end \u0000');
simple(6, 'emoji 😀🎉👍🏽 and other 4-byte 𝄞 𠜎 𝕏, and 3-byte 中文 ε ∑');
simple(7, 'control \t tab \n newline \r return \u001b escape \u007f del');
simple(8, '');
simple(9, ' leading and trailing spaces ');
simple(10, 'x'.repeat(1000000), 'a 1 MB question'); // a 1 MB text: the line stays under 1 MiB
simple(11, '\u2028 line separator \u2029 paragraph separator \ufeff BOM');
simple(12, 'é'.repeat(200000), 'ok'); // 400,000 bytes of two-byte characters

// Timestamps with offsets and nanoseconds: stored in UTC, microseconds kept.
{
	const u = msg('USER', 'offset +05:30, nanoseconds', '2026-03-01T05:30:00.987654321+05:30');
	const a = msg('LLM', 'offset -08:00', '2026-02-28T16:00:01.5-08:00');
	stored(pair(20, u, a), [u, a], ['2026-03-01 00:00:00.987654', '2026-03-01 00:00:01.500000']);
}
{
	const u = msg('USER', 'lower-case t and z, a leap second', '2016-12-31t23:59:60.25z');
	const a = msg('LLM', 'no fraction, -00:00', '2017-01-01T00:00:01-00:00');
	stored(pair(21, u, a), [u, a], ['2017-01-01 00:00:00.000000', '2017-01-01 00:00:01.000000']);
}

// Without ids the keys are derived; the record is stored all the same.
{
	const u = { role: 'USER', content: 'no id', timestamp: T };
	const a = { content: 'no id, no role', timestamp: T };
	lines.push(JSON.stringify(pair(22, u, a)));
	expect.push({ line: lines.length, stored: [
		{ id: null, role: 'USER', hex: hex('no id'), at: TS },
		{ id: null, role: 'LLM', hex: hex('no id, no role'), at: TS }] });
}

// Every handoff variant.
{
	const h = msg('HUMAN-AGENT', 'an agent speaks', T);
	stored({ workspace_id: 7, conversation_id: 30, handoff_messages: true,
		human_agent_message: h, user_message: msg('USER', 'ignored', T) }, [h], [TS]);
	const u = msg('USER', 'handoff without an agent message', T);
	stored({ workspace_id: 7, conversation_id: 30, handoff_messages: true,
		human_agent_message: null, user_message: u }, [u], [TS]);
	const u2 = msg('USER', 'handoff, agent message absent', T);
	stored({ workspace_id: 7, conversation_id: 30, handoff_messages: true, user_message: u2 },
		[u2], [TS]);
	const h2 = msg(undefined, 'agent message without a role', T);
	delete h2.role;
	stored({ workspace_id: 7, conversation_id: 30, handoff_messages: true,
		human_agent_message: h2 }, [{ ...h2, role: 'HUMAN-AGENT' }], [TS]);
	// A pair that carries an agent message too is a pair: it is ignored.
	const pu = msg('USER', 'pair with an agent message', T), pa = msg('LLM', 'answer', T);
	stored(pair(31, pu, pa, { human_agent_message: msg('HUMAN-AGENT', 'not stored', T) }),
		[pu, pa], [TS, TS]);
	rejected({ workspace_id: 7, conversation_id: 30, handoff_messages: true },
		'handoff record without a message');
	rejected({ workspace_id: 7, conversation_id: 30, handoff_messages: true,
		human_agent_message: null, user_message: null }, 'handoff record without a message');
	rejected({ workspace_id: 7, conversation_id: 30, handoff_messages: 'true',
		user_message: msg('USER', 'x', T) }, 'handoff_messages: not a boolean');
	rejected({ workspace_id: 7, conversation_id: 30, handoff_messages: true,
		human_agent_message: msg('LLM', 'x', T) }, 'human_agent_message.role');
	rejected({ workspace_id: 7, conversation_id: 30, handoff_messages: true,
		human_agent_message: [] }, 'human_agent_message: not an object');
}

// Envelopes: the body is the record; the line goes on verbatim.
{
	const u = msg('USER', 'in an envelope', T), a = msg('LLM', 'answered', T);
	stored({ queue_url: 'q', message_id: 'mid-1', receipt_handle: 'rh-1', receive_count: 1,
		body: pair(40, u, a) }, [u, a], [TS, TS]);
	rejected({ message_id: 'mid-2', receipt_handle: 'rh-2', body: 'not json' },
		'the record is not an object');
}

// Missing and mistyped fields.
const good = () => pair(50, msg('USER', 'q', T), msg('LLM', 'a', T));
const without = (f) => { const r = good(); delete r[f]; return r; };
const withField = (f, v) => ({ ...good(), [f]: v });
const msgWith = (slot, f, v) => { const r = good(); r[slot] = { ...r[slot], [f]: v }; return r; };
const msgWithout = (slot, f) => { const r = good(); delete r[slot][f]; return r; };
rejected(without('conversation_id'), 'conversation_id: missing');
rejected(without('workspace_id'), 'workspace_id: missing');
rejected(without('user_message'), 'user_message: missing');
rejected(without('assistant_message'), 'assistant_message: missing');
rejected(withField('conversation_id', '50'), 'conversation_id: not a number');
rejected(withField('conversation_id', 5.5), 'conversation_id: not a whole number');
rejected(withField('conversation_id', -5), 'conversation_id: negative');
rejected(withField('workspace_id', null), 'workspace_id: missing');
rejected(withField('workspace_id', true), 'workspace_id: not a number');
rejected(withField('store_id', '3'), 'store_id: not a number');
rejected(withField('session_id', 12), 'session_id: not a string');
rejected(withField('session_id', 's'.repeat(256)), 'session_id: longer than 255 characters');
rejected(withField('user_message', 'hello'), 'user_message: not an object');
rejected(msgWithout('user_message', 'content'), 'user_message.content: missing');
rejected(msgWith('user_message', 'content', 42), 'user_message.content: not a string');
rejected(msgWithout('assistant_message', 'timestamp'), 'assistant_message.timestamp: missing');
rejected(msgWith('assistant_message', 'timestamp', 1764324000), 'assistant_message.timestamp: not a string');
rejected(msgWith('assistant_message', 'timestamp', '2026-11-28 10:00:00'), 'assistant_message.timestamp:');
rejected(msgWith('assistant_message', 'timestamp', '2026-02-30T10:00:00Z'), 'assistant_message.timestamp:');
rejected(msgWith('assistant_message', 'timestamp', '2026-11-28T10:00:00.1234567891Z'), 'assistant_message.timestamp:');
rejected(msgWith('assistant_message', 'timestamp', '0500-01-01T00:00:00Z'), 'before the year 1000');
rejected(msgWith('assistant_message', 'role', 'USER'), 'assistant_message.role');
rejected(msgWith('user_message', 'role', 'user'), 'user_message.role');
rejected(msgWith('user_message', 'id', 12), 'user_message.id: not a string');
rejected(msgWith('user_message', 'id', ''), 'user_message.id: empty');
rejected('[1,2,3]', 'the record is not an object');
rejected('"a string"', 'the record is not an object');
rejected('{"workspace_id":7,', 'not JSON');
rejected('', 'empty line');
rejected('{"a":"\u0000"}', 'NUL byte'); // a raw NUL byte in the line
rejected('{"x":"' + 'y'.repeat(1048576) + '"}', 'line too long');

if (mode !== 'make') throw new Error('usage: persist-hostile.js make|check NAME ...');
fs.writeFileSync(`${name}.jsonl`, lines.join('\n') + '\n');
fs.writeFileSync(`${name}.expect`, expect.map((e) => JSON.stringify(e)).join('\n') + '\n');
// A line of invalid UTF-8, written raw (not through a JS string).
fs.appendFileSync(`${name}.jsonl`, Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d, 0x0a]));
fs.appendFileSync(`${name}.expect`, JSON.stringify({ line: lines.length + 1, reject: 'invalid UTF-8' }) + '\n');

function check(outFile, rejFile, rowsFile) {
	const bad = (m) => { console.log(m); process.exitCode = 1; };
	const inLines = fs.readFileSync(`${name}.jsonl`).toString('latin1').split('\n');
	const exp = fs.readFileSync(`${name}.expect`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
	const out = fs.readFileSync(outFile).toString('latin1').split('\n').filter((l) => l !== '');
	const want = exp.filter((e) => e.stored).map((e) => inLines[e.line - 1]);
	const sorted = (a) => [...a].sort();
	if (JSON.stringify(sorted(out)) !== JSON.stringify(sorted(want)))
		bad(`stdout: ${out.length} lines, expected the ${want.length} stored lines verbatim`);
	const rej = new Map();
	for (const l of fs.readFileSync(rejFile, 'utf8').split('\n').filter((x) => x)) {
		const r = JSON.parse(l);
		if (rej.has(r.line)) bad(`line ${r.line} rejected twice`);
		rej.set(r.line, r);
	}
	for (const e of exp) {
		const r = rej.get(e.line);
		if (e.reject && !r) bad(`line ${e.line}: not rejected (expected: ${e.reject})`);
		else if (e.reject && !r.error.includes(e.reject)) bad(`line ${e.line}: rejected for "${r.error}", expected "${e.reject}"`);
		else if (e.reject && r.retryable !== false) bad(`line ${e.line}: rejected as retryable`);
		else if (e.stored && r) bad(`line ${e.line}: rejected (${r.error}), expected stored`);
	}
	if (rej.size !== exp.filter((e) => e.reject).length) bad(`${rej.size} rejects, expected ${exp.filter((e) => e.reject).length}`);
	const rows = sorted(fs.readFileSync(rowsFile, 'utf8').split('\n').filter((x) => x));
	const wantRows = sorted(exp.filter((e) => e.stored).flatMap((e) => e.stored.map((m) =>
		[m.id === null ? 'NULL' : m.id, m.role, m.hex.toUpperCase(), m.at].join('\t'))));
	if (rows.length !== wantRows.length) bad(`${rows.length} messages stored, expected ${wantRows.length}`);
	for (let i = 0; i < Math.max(rows.length, wantRows.length); i++)
		if (rows[i] !== wantRows[i]) {
			bad(`message row differs:\n  got      ${(rows[i] || '').slice(0, 200)}\n  expected ${(wantRows[i] || '').slice(0, 200)}`);
			break;
		}
}
