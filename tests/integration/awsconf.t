#!/bin/sh
# tests/integration/awsconf.t: lib/sigv4 and lib/awsconf end to end.
#
#  - SigV4: the same requests (Bedrock model ids with ':' and ARNs, session
#    tokens, SQS JSON with and without x-amz-content-sha256, odd queries,
#    dot segments, folded header whitespace, a presigned URL) signed by the
#    sigv4-sign driver and by the official @smithy/signature-v4; the
#    signatures must be equal.
#  - Credentials, region and endpoint precedence (environment, --profile
#    vs AWS_PROFILE, credentials vs config file, credential_process,
#    services sections, queue URLs) through the aws-whoami driver, with
#    the official @aws-sdk/credential-provider-node chain as the oracle
#    where the CLI and the JavaScript SDK agree.
#  - Container credentials (full URI with a token and a rotating token
#    file, relative URI through http_proxy) and EC2 IMDSv2 (token reuse,
#    refresh before and after expiry, threads, v1 fallback, refusals)
#    against tests/peers/awsmeta.js, which the official clients also use.
#
# Nothing reaches a real metadata service: every AWS_* variable of the
# caller is dropped, AWS_EC2_METADATA_DISABLED=true except where
# AWS_EC2_METADATA_SERVICE_ENDPOINT points at the fake, and the fake as
# a proxy serves only http://169.254.170.2 and refuses everything else.
# shellcheck disable=SC2016 # at_exit strings expand later, on purpose
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=SCRIPTDIR/../peers/peer.sh
. "$PEERS/peer.sh"

for v in $(env | sed -n 's/^\(AWS_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy no_proxy NO_PROXY
HOME="$TMP/home"
mkdir -p "$HOME/.aws"
export HOME AWS_EC2_METADATA_DISABLED=true

# run CMD...: runs a bounded command, stdout in $TMP/out, stderr in
# $TMP/err; its exit status in $rc.  Variables for one command go through
# env(1) ("run env A=b cmd"): assignments before a function call may
# outlive it in some shells.
run() {
	timeout 60 "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
}
# first JQ: evaluated on the first output line.
first() { head -n 1 "$TMP/out" | jq -r "$1"; }
# hint KEY: what aws-whoami shows of a key id (type prefix, last 4).
hint() { printf '%s\342\200\246%s' "$(printf %s "$1" | cut -c1-4)" "${1#"${1%????}"}"; }
# jschain [PROFILE]: the key id the official JavaScript chain resolves, or
# "error: ...".
jschain() {
	timeout 30 node -e '
const { defaultProvider } = require("@aws-sdk/credential-provider-node");
const p = process.argv[1];
defaultProvider(p ? { profile: p } : {})().then(
  (c) => console.log(c.accessKeyId),
  (e) => console.log("error: " + e.message));' "${1:-}" 2>/dev/null
}

########################################################################
# 1. SigV4 against @smithy/signature-v4

cat >"$TMP/sign.js" <<'EOF'
'use strict';
// Signs every case of the JSON array on stdin with @smithy/signature-v4
// and prints one line per case: the Authorization header, or for a
// presigned case the X-Amz-Signature.  The URL is split by hand (WHATWG
// URL parsing would normalise the path), the query decoded as SigV4 does.
const { SignatureV4 } = require('@smithy/signature-v4');
const crypto = require('crypto');
class Sha256 {
	constructor(secret) { this.h = secret ? crypto.createHmac('sha256', secret) : crypto.createHash('sha256'); }
	update(d) { this.h.update(d); }
	async digest() { return new Uint8Array(this.h.digest()); }
}
(async () => {
	const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
	for (const c of cases) {
		const m = /^(https?):\/\/([^/?#]+)([^?#]*)(?:\?([^#]*))?/.exec(c.url);
		let host = m[2];
		if ((m[1] === 'https' && host.endsWith(':443')) || (m[1] === 'http' && host.endsWith(':80')))
			host = host.replace(/:\d+$/, '');
		const query = {};
		for (const kv of (m[4] || '').split('&')) {
			if (!kv) continue;
			const i = kv.indexOf('=');
			const k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i));
			const v = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
			if (k in query) query[k] = [].concat(query[k], v); else query[k] = v;
		}
		const s = new SignatureV4({ service: c.service, region: c.region, sha256: Sha256,
			credentials: c.creds, applyChecksum: !!c.checksum });
		const d = c.date.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z');
		const req = { method: c.method, protocol: m[1] + ':', hostname: host.replace(/:\d+$/, ''),
			path: m[3] || '/', query, headers: Object.assign({ host }, c.headers || {}),
			body: c.body || '' };
		if (c.presign) {
			const r = await s.presign(req, { signingDate: new Date(d), expiresIn: c.expires });
			console.log(r.query['X-Amz-Signature']);
		} else {
			const r = await s.sign(req, { signingDate: new Date(d) });
			console.log(r.headers.authorization);
		}
	}
})().catch((e) => { console.error(e); process.exit(1); });
EOF

KEY=AKIDEXAMPLE
SECRET=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
TOKEN='IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=='
cat >"$TMP/cases.json" <<EOF
[
 {"name":"Bedrock Converse, model id with ':' and a session token",
  "method":"POST","url":"https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
  "headers":{"Content-Type":"application/json"},
  "body":"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
  "region":"us-east-1","service":"bedrock","token":true},
 {"name":"Bedrock Converse, inference-profile ARN",
  "method":"POST","url":"https://bedrock-runtime.eu-west-3.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aeu-west-3%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-3-haiku-20240307-v1%3A0/converse",
  "headers":{"Content-Type":"application/json"},"body":"{}",
  "region":"eu-west-3","service":"bedrock"},
 {"name":"Bedrock Agent Runtime retrieveAndGenerate, UTF-8 body, token",
  "method":"POST","url":"https://bedrock-agent-runtime.us-west-2.amazonaws.com/retrieveAndGenerate",
  "headers":{"Content-Type":"application/json","Accept":"application/json"},
  "body":"{\"input\":{\"text\":\"Où est ma commande ? ሴ\"}}",
  "region":"us-west-2","service":"bedrock","token":true},
 {"name":"SQS JSON on a local port, x-amz-content-sha256",
  "method":"POST","url":"http://127.0.0.1:4566/",
  "headers":{"Content-Type":"application/x-amz-json-1.0","X-Amz-Target":"AmazonSQS.SendMessage","x-amzn-query-mode":"true"},
  "body":"{\"QueueUrl\":\"http://127.0.0.1:4566/000000000000/q\",\"MessageBody\":\"hi\"}",
  "region":"us-east-1","service":"sqs","checksum":true},
 {"name":"SQS JSON, default port, token, no content hash header",
  "method":"POST","url":"https://sqs.eu-central-1.amazonaws.com:443/",
  "headers":{"Content-Type":"application/x-amz-json-1.0","X-Amz-Target":"AmazonSQS.ReceiveMessage"},
  "body":"{\"QueueUrl\":\"https://sqs.eu-central-1.amazonaws.com/1/q\",\"WaitTimeSeconds\":20}",
  "region":"eu-central-1","service":"sqs","token":true},
 {"name":"query: repeated names, spaces, UTF-8, encoded plus, empty value",
  "method":"GET","url":"https://example.amazonaws.com/path?b=2&a=x%20y&c=%E1%88%B4&a=x&d=%2B&e=&Z=1",
  "region":"us-east-1","service":"service"},
 {"name":"path: dot segments, double slashes, encoded space",
  "method":"GET","url":"https://example.amazonaws.com/a/./b//../c%20d/?x=1",
  "region":"us-east-1","service":"service"},
 {"name":"headers: folded whitespace, mixed case, unsigned user-agent",
  "method":"GET","url":"https://example.amazonaws.com/",
  "headers":{"X-Custom":"  a   b\tc  ","X-Mixed-CASE":"Value With  Spaces","User-Agent":"chatpipe/0.1.0"},
  "region":"ap-southeast-2","service":"execute-api","token":true},
 {"name":"presigned GET with a session token",
  "method":"GET","url":"https://example.amazonaws.com/obj?list-type=2&prefix=a%2Fb",
  "region":"us-east-1","service":"s3x","presign":true,"expires":600,"token":true}
]
EOF
# The same credentials and date everywhere.
jq --arg k "$KEY" --arg s "$SECRET" --arg t "$TOKEN" '[.[] | . + {date: "20261128T120000Z",
    creds: ({accessKeyId: $k, secretAccessKey: $s} + (if .token then {sessionToken: $t} else {} end))}]' \
	"$TMP/cases.json" >"$TMP/cases2.json"
if ! node "$TMP/sign.js" <"$TMP/cases2.json" >"$TMP/smithy.txt" 2>"$TMP/smithy.err"; then
	ok 1 "@smithy/signature-v4 signs the cases"
	diag "$(cat "$TMP/smithy.err")"
fi
n=$(jq length "$TMP/cases2.json")
i=0
while [ "$i" -lt "$n" ]; do
	c() { jq -r ".[$i].$1 // empty" "$TMP/cases2.json"; }
	name=$(c name)
	set -- -X "$(c method)" --url "$(c url)" --region "$(c region)" \
		--service "$(c service)" --date "$(c date)"
	body=$(jq -r ".[$i].body // empty" "$TMP/cases2.json")
	[ -n "$body" ] && set -- "$@" -d "$body"
	[ "$(c checksum)" = true ] && set -- "$@" --content-sha256
	[ "$(c presign)" = true ] && set -- "$@" --presign --expires "$(c expires)"
	while IFS= read -r h; do
		[ -n "$h" ] && set -- "$@" -H "$h"
	done <<EOF
$(jq -r ".[$i].headers // {} | to_entries[] | \"\(.key): \(.value)\"" "$TMP/cases2.json")
EOF
	tok=
	[ "$(c token)" = true ] && tok=$TOKEN
	run env AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$tok \
		sigv4-sign "$@"
	want=$(sed -n "$((i + 1))p" "$TMP/smithy.txt")
	if [ "$(c presign)" = true ]; then
		got=$(jq -r '.query' "$TMP/out" | tr '&' '\n' | sed -n 's/^X-Amz-Signature=//p')
	else
		got=$(jq -r '.authorization' "$TMP/out")
	fi
	if [ "$rc" -ne 0 ] || [ -z "$want" ]; then
		ok 1 "sigv4: $name"
		diag "$(cat "$TMP/err")"
	else
		is "$got" "$want" "sigv4 = @smithy/signature-v4: $name"
	fi
	i=$((i + 1))
done
# The double encoding is really there, and the token never printed.
run env AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$TOKEN \
	sigv4-sign -X POST --region us-east-1 --service bedrock \
	--url 'https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse'
is "$(jq -r '.canonical_request' "$TMP/out" | sed -n 2p)" \
	/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse \
	"canonical URI of a model id with ':' is double-encoded"
check "the session token is not in the driver's output" sh -c \
	"! grep -F -q -e 'IQoJb3JpZ2luX2Vj' -e 'IQoJb3JpZ2luX2VjEJr%2F' '$TMP/out'"

########################################################################
# 2. Precedence: environment, profiles, files, credential_process

cat >"$TMP/proc.sh" <<'EOF'
#!/bin/sh
echo '{"Version": 1, "AccessKeyId": "ASIAPROCESSDEMO00042", "SecretAccessKey": "proc-secret",
 "SessionToken": "proc-token", "Expiration": "2099-01-01T00:00:00Z"}'
EOF
chmod +x "$TMP/proc.sh"
cat >"$HOME/.aws/credentials" <<EOF
# static keys
[default]
aws_access_key_id = AKIDCREDSDEFAULT01
aws_secret_access_key = default-secret
[dev]
aws_access_key_id=AKIDCREDSDEV000001
aws_secret_access_key=dev-secret
EOF
cat >"$HOME/.aws/config" <<EOF
[default]
region = eu-west-1
[profile dev]
region = eu-central-1
services = local
; a nested section, as the SDKs read it
[services local]
sqs =
  endpoint_url = http://localhost:4566
[profile proc]
credential_process = "$TMP/proc.sh"
region = ap-south-1
EOF

run aws-whoami
is "$(first .source) $(first .key) $(first .profile)" \
	"credentials-file $(hint AKIDCREDSDEFAULT01) default" "default profile: the credentials file"
is "$(hint "$(jschain)")" "$(first .key)" "the JavaScript SDK resolves the same key"
is "$(first .region)/$(first .region_source)" "eu-west-1/profile" "region from the profile"
is "$(first .endpoint)/$(first .endpoint_source)" "https://sqs.eu-west-1.amazonaws.com/default" \
	"default endpoint from the region"

export AWS_ACCESS_KEY_ID=AKIDENVIRONMENT001 AWS_SECRET_ACCESS_KEY=env-secret
run aws-whoami
is "$(first .source) $(first .key)" "env $(hint AKIDENVIRONMENT001)" "environment over the files"
is "$(hint "$(jschain)")" "$(first .key)" "the JavaScript SDK agrees"
run env AWS_PROFILE=dev aws-whoami
is "$(first .source) $(first .key) $(first .profile)" "env $(hint AKIDENVIRONMENT001) dev" \
	"environment over AWS_PROFILE (as the CLI does)"
js=$(AWS_PROFILE=dev jschain)
diag "the JavaScript SDK, with AWS_PROFILE=dev and keys in the environment, picks $(hint "$js") (it prefers the profile there)"
run aws-whoami --profile dev
is "$(first .source) $(first .key)" "credentials-file $(hint AKIDCREDSDEV000001)" "--profile over the environment"
is "$(hint "$(jschain dev)")" "$(first .key)" "the JavaScript SDK agrees on --profile"
is "$(first .region)/$(first .endpoint)/$(first .endpoint_source)" \
	"eu-central-1/http://localhost:4566/profile services" "the profile's region and services endpoint"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

run env AWS_PROFILE=proc aws-whoami
is "$(first .source) $(first .key) $(first .token) $(first .expiration)" \
	"process $(hint ASIAPROCESSDEMO00042) true 2099-01-01T00:00:00Z" "credential_process"
is "$(hint "$(AWS_PROFILE=proc jschain)")" "$(first .key)" "the JavaScript SDK runs the same process"
run env AWS_PROFILE=nosuch aws-whoami
is "$rc" 78 "an unknown AWS_PROFILE is a configuration error"
check "it names the profile" grep -q 'config profile (nosuch) could not be found' "$TMP/err"

run env AWS_DEFAULT_REGION=us-west-1 aws-whoami
is "$(first .region)/$(first .region_source)" us-west-1/AWS_DEFAULT_REGION "AWS_DEFAULT_REGION over the profile"
run env AWS_DEFAULT_REGION=us-west-1 AWS_REGION=us-west-2 aws-whoami
is "$(first .region)/$(first .region_source)" us-west-2/AWS_REGION "AWS_REGION over AWS_DEFAULT_REGION"
run env AWS_REGION=us-west-2 aws-whoami --region sa-east-1
is "$(first .region)/$(first .region_source)" sa-east-1/--region "--region over everything"

Q=https://sqs.ap-northeast-1.amazonaws.com/123456789012/orders
run env AWS_CONFIG_FILE=/dev/null aws-whoami --queue-url "$Q"
is "$(first .region)/$(first .region_source)" ap-northeast-1/"queue URL" "region from the queue URL when none is configured"
is "$(first .endpoint)/$(first .endpoint_source)" "https://sqs.ap-northeast-1.amazonaws.com/queue URL" \
	"the queue URL's origin is the endpoint"
run env AWS_CONFIG_FILE=/dev/null aws-whoami
is "$rc" 0 "no region is not fatal to credentials"
check "and says how to set one" grep -q 'use --region, AWS_REGION or AWS_DEFAULT_REGION' "$TMP/out"
run env AWS_PROFILE=dev AWS_ENDPOINT_URL=http://env-global:1 aws-whoami --queue-url "$Q"
is "$(first .endpoint)/$(first .endpoint_source)" "http://env-global:1/AWS_ENDPOINT_URL" \
	"AWS_ENDPOINT_URL over the profile and the queue URL"
run env AWS_ENDPOINT_URL=http://env-global:1 AWS_ENDPOINT_URL_SQS=http://env-sqs:2/ aws-whoami
is "$(first .endpoint)/$(first .endpoint_source)" "http://env-sqs:2/AWS_ENDPOINT_URL_<SERVICE>" \
	"AWS_ENDPOINT_URL_SQS over AWS_ENDPOINT_URL"
run env AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://env-br:3 aws-whoami --service bedrock-runtime
is "$(first .endpoint)" "http://env-br:3" "AWS_ENDPOINT_URL_BEDROCK_RUNTIME for bedrock-runtime"
run env AWS_ENDPOINT_URL_SQS=http://env-sqs:2 aws-whoami --endpoint-url http://flag:4
is "$(first .endpoint)/$(first .endpoint_source)" "http://flag:4/--endpoint-url" "--endpoint-url over everything"
run env AWS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt aws-whoami
is "$(first .ca_bundle)/$(first .ca_source)" "/etc/ssl/certs/ca-certificates.crt/AWS_CA_BUNDLE" "AWS_CA_BUNDLE is reported"

########################################################################
# 3. Container credentials against awsmeta.js

start_meta() {
	rm -f "$TMP/meta.port"
	node "$PEERS/awsmeta.js" --port-file "$TMP/meta.port" --ttl 600 \
		--container-token-file "$TMP/ctoken" >"$TMP/meta.out" 2>"$TMP/meta.log" &
	meta_pid=$!
	at_exit "peer_stop $meta_pid awsmeta.js"
	_n=0
	while [ ! -s "$TMP/meta.port" ]; do
		[ $_n -ge 100 ] && peer_die "$TMP/meta.log" "awsmeta.js did not start"
		sleep 0.1
		_n=$((_n + 1))
	done
	META="http://127.0.0.1:$(cat "$TMP/meta.port")"
}
mstat() { curl -s --max-time 5 "$META/__stats" | jq -r "$1"; }
mconf() { curl -s --max-time 5 "$META/__config?$1" >/dev/null; }

printf 'ctok-1' >"$TMP/ctoken"
start_meta
diag "awsmeta.js on $META"
mv "$HOME/.aws/credentials" "$HOME/.aws/credentials.off"
export AWS_CONFIG_FILE=/dev/null

run env AWS_CONTAINER_CREDENTIALS_FULL_URI="$META/v2/credentials/full" AWS_CONTAINER_AUTHORIZATION_TOKEN=ctok-1 \
	aws-whoami --region us-east-1
is "$(first .source)/$(first .token)" container/true "container: full URI with a token"
is "$(mstat .container)/$(mstat .last_container_path)" 1//v2/credentials/full "the fake served it"
run env AWS_CONTAINER_CREDENTIALS_FULL_URI="$META/v2/credentials/full" AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong \
	aws-whoami --region us-east-1
is "$rc" 77 "container: a wrong token fails"
check "with the service's answer" grep -q 'HTTP 401 from .*AccessDenied' "$TMP/err"
is "$(mstat .container_unauthorized)" 1 "the fake refused it"

# The token file is read at every fetch: rotate it (on both sides) between
# two fetches of one process.
printf 'ctok-1\n' >"$TMP/ctoken.client"
AWS_CONTAINER_CREDENTIALS_FULL_URI="$META/container/file" \
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$TMP/ctoken.client" \
	timeout 60 aws-whoami --region us-east-1 --repeat 1 --interval-ms 1500 --invalidate \
	>"$TMP/out" 2>"$TMP/err" &
wpid=$!
sleep 0.7
printf 'ctok-2' >"$TMP/ctoken"
printf 'ctok-2' >"$TMP/ctoken.client"
wait $wpid
rc=$?
is "$rc" 0 "container: token file, rotated between fetches"
is "$(sed -n 2p "$TMP/out" | jq -r '.source + " " + (.valid|tostring)')" "container true" \
	"the second fetch used the new token"
is "$(mstat .container)" 3 "both fetches were served"

# The relative URI goes to http://169.254.170.2, here through the fake as
# a proxy (libcurl honours http_proxy, as botocore honours Python's).
run env http_proxy="$META" AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/rel-123 \
AWS_CONTAINER_AUTHORIZATION_TOKEN=ctok-2 aws-whoami --region us-east-1
is "$(first .source)" container "container: relative URI"
is "$(mstat .proxied)/$(mstat .last_proxy_host)/$(mstat .last_container_path)" \
	"1/169.254.170.2//v2/credentials/rel-123" "it asked http://169.254.170.2/v2/credentials/rel-123"
is "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -x "$META" http://169.254.169.254/latest/api/token)" 403 \
	"the fake proxies nothing else"
run env AWS_CONTAINER_CREDENTIALS_FULL_URI=http://example.com/creds aws-whoami --region us-east-1
is "$rc" 77 "container: a full URI to a remote http host is refused"
check "before connecting, saying why" grep -q 'must be https, or http to a loopback' "$TMP/err"
js=$(AWS_CONTAINER_CREDENTIALS_FULL_URI="$META/v2/credentials/js" AWS_CONTAINER_AUTHORIZATION_TOKEN=ctok-2 jschain)
case $js in ASIAECSC*) ok 0 "the official JavaScript chain takes the fake's container credentials" ;;
*) ok 1 "the official JavaScript chain takes the fake's container credentials"; diag "$js" ;; esac

########################################################################
# 4. EC2 IMDSv2 against awsmeta.js

unset AWS_EC2_METADATA_DISABLED
export AWS_EC2_METADATA_SERVICE_ENDPOINT="$META"
curl -s --max-time 5 "$META/__reset" >/dev/null
mconf ttl=4
run aws-whoami --imds-region --repeat 4 --interval-ms 1200
is "$rc" 0 "IMDSv2: four fetches over about 5 s"
is "$(first .source)/$(first .token)/$(first .region)/$(first .region_source)" imds/true/us-west-2/IMDS \
	"credentials and region from IMDS"
is "$(sed 1d "$TMP/out" | jq -r .valid | sort -u)" true "never handed out expired credentials"
keys=$(jq -r .key "$TMP/out" | sort -u | wc -l)
check "refreshed before expiry ($keys keys over 4 s credentials)" test "$keys" -ge 2
is "$(mstat .token_puts)" 1 "one IMDSv2 token, reused"
check "a role lookup per fetch of credentials" test "$(mstat .role_creds)" -eq "$keys"
is "$(mstat .imds_unauthorized)" 0 "every metadata GET carried the token"

# Credentials that expire between two fetches are fetched again.
mconf ttl=2
run aws-whoami --repeat 3 --interval-ms 2500
is "$rc" 0 "IMDSv2: fetches 2.5 s apart, credentials of 2 s"
is "$(jq -r .key "$TMP/out" | uniq | wc -l)" 4 "a new credential at every fetch"
is "$(sed 1d "$TMP/out" | jq -r .valid | sort -u)" true "each valid when handed out"

mconf ttl=3
run aws-whoami --threads 4 --repeat 4 --interval-ms 700
is "$rc" 0 "IMDSv2: 4 threads fetching while credentials rotate"
is "$(sed 1d "$TMP/out" | jq -r .valid | sort -u)/$(sed 1d "$TMP/out" | wc -l)" true/16 "all 16 valid"

is "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$META/latest/meta-data/iam/security-credentials/")" 401 \
	"the fake refuses a metadata GET without a token"
is "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X PUT "$META/latest/api/token")" 400 \
	"and a token PUT without a TTL"
is "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
	-H 'X-Forwarded-For: 10.0.0.1' "$META/latest/api/token")" 403 "and a proxied token PUT"
js=$(jschain)
case $js in ASIAIMDS*) ok 0 "the official JavaScript chain takes the fake's IMDSv2 credentials" ;;
*) ok 1 "the official JavaScript chain takes the fake's IMDSv2 credentials"; diag "$js" ;; esac

mconf 'ttl=600&v1=1'
run aws-whoami --region us-east-1
is "$(first .source)" imds "IMDSv1 fallback when the token PUT is refused"
run env AWS_EC2_METADATA_V1_DISABLED=true aws-whoami --region us-east-1
is "$rc" 77 "no fallback with AWS_EC2_METADATA_V1_DISABLED=true"
check "saying so" grep -q 'PUT .*/latest/api/token: HTTP 403' "$TMP/err"
mconf 'v1=0&ttl=0'
run aws-whoami --region us-east-1
is "$rc" 77 "credentials that arrive expired are refused"
check "saying so" grep -q 'credentials from imds expired at' "$TMP/err"
mconf 'ttl=600&role=other'
curl -s --max-time 5 "$META/__reset" >/dev/null
run env AWS_EC2_METADATA_DISABLED=true aws-whoami --region us-east-1
is "$rc" 77 "AWS_EC2_METADATA_DISABLED=true: no credentials"
check "saying IMDS is disabled" grep -q 'IMDS disabled' "$TMP/err"
is "$(mstat .token_puts)" 0 "and IMDS was not asked"

done_testing
