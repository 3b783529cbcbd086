#!/usr/bin/env bash
# profile-table.sh: measures what credshield protect adds in front of each
# service the login profiles describe, with credshield simulate --target
# --profile against the stand-ins (internal/loginapi/standin): one botnet
# run against the service alone, one against it behind credshield protect
# --profile, each on a fresh stand-in with the same population and combo
# list. Prints one Markdown table row per run (the README's table).
#
#   scripts/profile-table.sh [kratos] [authelia] [keycloak] [gotrue]
#   REAL=1 scripts/profile-table.sh [kratos] [authelia]
#
# REAL=1 runs the real Authelia v4.37.5 and Ory Kratos v1.3.1 instead of
# the stand-ins: the binaries scripts/e2e-real-services.sh builds (run it
# with "build" first), each on a fresh PostgreSQL database on
# 127.0.0.1:5432 (CREDSHIELD_E2E_PG), with the population imported by the
# service's own means: Authelia's users_database.yml
# (--population-format authelia-yaml) and `kratos import identities`
# (--population-format kratos-identities), argon2id at 8 MiB, 1 pass.
#
# Sizes: USERS (200), PAIRS (3000), BUDGET attacker CPU-seconds (5),
# LEGIT_USERS (20), LEGIT_LOGINS (100), SEED (1); PROTECT_BIN runs protect
# from another credshield binary. Everything listens on
# 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

users=${USERS:-200} pairs=${PAIRS:-3000} budget=${BUDGET:-5}
legit_users=${LEGIT_USERS:-20} legit_logins=${LEGIT_LOGINS:-100} seed=${SEED:-1}
services=("$@")
if [ ${#services[@]} -eq 0 ]; then
	services=(kratos authelia keycloak gotrue)
	[ -z "${REAL:-}" ] || services=(kratos authelia) # the real services this script runs
fi

work=$(mktemp -d)
pids=()
dbs=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for db in "${dbs[@]}"; do psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/credshield" ./cmd/credshield
go build -o "$work/standin" ./internal/loginapi/standin/cmd/standin
cs=$work/credshield
real=${REAL:-}
cache=${CREDSHIELD_E2E_CACHE:-$HOME/.cache/credshield-e2e}
pg=${CREDSHIELD_E2E_PG:-postgres://postgres@127.0.0.1:5432}
protect=${PROTECT_BIN:-$cs} # another build's protect, to measure before a merge

# start NAME CMD...: runs CMD in the background and sets url to the URL of
# its first stdout line ("serving URL" or "protecting UPSTREAM on ADDR").
start() {
	local name=$1 out=$work/$1.out
	shift
	"$@" >"$out" 2>"$work/$name.err" &
	pids+=($!)
	for _ in $(seq 100); do
		if grep -q 'serving http' "$out"; then
			url=$(sed -n 's/^serving \(http[^ ]*\).*/\1/p' "$out")
			return
		fi
		if grep -q 'is protecting' "$out"; then
			url="http://$(sed -n 's/.* on \([0-9.:]*\) .*/\1/p' "$out")"
			return
		fi
		sleep 0.1
	done
	echo "$name did not start: $(cat "$work/$name.err")" >&2
	exit 1
}

rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

fresh_db() {
	PGOPTIONS=--client-min-messages=warning psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
	dbs+=("$1")
}

wait_http() {
	for _ in $(seq 120); do
		curl -s -o /dev/null "$1" && return
		sleep 0.5
	done
	echo "$1 did not come up" >&2
	exit 1
}

# real_authelia NAME: Authelia v4.37.5 with the population's
# users_database.yml and its default regulation; sets url.
real_authelia() {
	local dir=$work/$1 bin=$cache/bin/authelia-v4.37.5
	mkdir -p "$dir"
	fresh_db credshield_table_authelia
	umask 077
	cat >"$dir/configuration.yml" <<EOF
theme: light
jwt_secret: $(rand_hex 32)
default_redirection_url: https://home.example.com/
server: {host: 127.0.0.1, port: 19191}
log: {level: error}
totp: {issuer: example.com}
authentication_backend:
  file: {path: $work/authelia.pop}
access_control: {default_policy: one_factor}
session: {name: authelia_session, domain: example.com, secret: $(rand_hex 32)}
regulation: {max_retries: 3, find_time: 2m, ban_time: 5m}
storage:
  encryption_key: $(rand_hex 32)
  postgres: {host: 127.0.0.1, port: 5432, database: credshield_table_authelia, username: postgres, password: unused-trust-auth}
notifier:
  filesystem: {filename: $dir/notification.txt}
EOF
	umask 022
	"$bin" --config "$dir/configuration.yml" >"$dir/log" 2>&1 &
	pids+=($!)
	wait_http http://127.0.0.1:19191/api/health
	url=http://127.0.0.1:19191
}

# real_kratos NAME: Ory Kratos v1.3.1 (no rate limit of its own) with the
# population imported by `kratos import identities`; sets url.
real_kratos() {
	local dir=$work/$1 bin=$cache/bin/kratos-v1.3.1
	mkdir -p "$dir"
	fresh_db credshield_table_kratos
	cat >"$dir/identity.schema.json" <<'EOF'
{"$id": "https://example.com/identity.schema.json", "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
 "properties": {"traits": {"type": "object", "required": ["email"], "additionalProperties": false,
  "properties": {"email": {"type": "string", "format": "email", "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}}}}}
EOF
	umask 077
	cat >"$dir/kratos.yml" <<EOF
version: v1.3.1
dsn: $pg/credshield_table_kratos?sslmode=disable
serve:
  public: {base_url: "http://127.0.0.1:19533/", host: 127.0.0.1, port: 19533}
  admin: {base_url: "http://127.0.0.1:19534/", host: 127.0.0.1, port: 19534}
selfservice:
  default_browser_return_url: http://127.0.0.1:19555/
  allowed_return_urls: [http://127.0.0.1:19555/]
  methods: {password: {enabled: true}}
  flows: {login: {ui_url: "http://127.0.0.1:19555/login"}, error: {ui_url: "http://127.0.0.1:19555/error"}}
identity:
  default_schema_id: default
  schemas: [{id: default, url: "file://$dir/identity.schema.json"}]
hashers:
  algorithm: argon2
  argon2: {memory: 8MB, iterations: 1, parallelism: 1, salt_length: 16, key_length: 32, expected_duration: 50ms, expected_deviation: 40ms}
secrets: {cookie: [$(rand_hex 16)], cipher: [$(rand_hex 16)]}
courier: {smtp: {connection_uri: "smtp://unused:unused@127.0.0.1:19025/?disable_starttls=true"}}
log: {level: error}
EOF
	umask 022
	"$bin" migrate sql -e --yes -c "$dir/kratos.yml" >"$dir/migrate.log" 2>&1
	"$bin" serve -c "$dir/kratos.yml" --dev >"$dir/log" 2>&1 &
	pids+=($!)
	wait_http http://127.0.0.1:19533/health/ready
	"$bin" import identities "$work/kratos.pop" -e http://127.0.0.1:19534 -q >"$dir/import.log" 2>&1
	url=http://127.0.0.1:19533
}

# service NAME SVC: a fresh service to attack, stand-in or real; sets url.
service() {
	if [ -n "$real" ]; then
		declare -F "real_$2" >/dev/null || { echo "REAL=1 runs kratos and authelia, not $2" >&2; exit 2; }
		"real_$2" "$1"
	else
		start "$1" "$work/standin" -service "$2" -users "$work/$2.pop"
	fi
}

# scan_line SERVICE SETUP URL: credshield scan URL, discovering the
# service (no --profile, no account), its findings on one line.
scan_line() {
	local out=$work/scan-$1-${2// /-}.json
	# shellcheck disable=SC2046
	"$cs" scan "$3" $(realm_args "$1") $([ "$1" != keycloak ] || echo "--client-id app") --format json --out "$out" --rps 500 --fail-on critical >/dev/null 2>&1 || true
	jq -r --arg s "$1" --arg setup "$2" '"scan of \($s) \($setup): spoke \(.discovery.profile // "OAuth2"); " +
		(if (.findings | length) == 0 then "no findings" else ([.findings[] | "\(.id) (\(.severity))"] | join(", ")) end) +
		(if (.inconclusive | length) > 0 then "; inconclusive: " + ([.inconclusive[].id] | join(", ")) else "" end)' "$out" >>"$work/scans"
}

# Keycloak's stand-in is realm "test" with the public client "app".
realm_args() { [ "$1" != keycloak ] || echo "--realm test"; }

sim() { # sim PROFILE TARGET OUT
	# shellcheck disable=SC2046
	"$cs" simulate --target "$2" --profile "$1" $(realm_args "$1") $([ "$1" != keycloak ] || echo "--client-id app") --scenario botnet --seed "$seed" \
		--users "$users" --pairs "$pairs" --attacker-budget "$budget" --duration 5m \
		--legit-users "$legit_users" --legit-logins "$legit_logins" --quiet-logins 0 \
		--botnet-size 2000 --attack-workers 8 --format json --out "$3"
}

row() { # row SERVICE SETUP REPORT COMMAND
	jq -r --arg s "$1" --arg setup "$2" --arg cmd "$4" '.results[0] as $r |
		"| \($s) | \($setup) | \($r.compromised) of \($r.valid_pairs_tried) | \($r.attacker_requests) | \($r.attacker_challenges_solved) | " +
		(if $r.cost_per_compromise_seconds == null then "none taken (\($r.attacker_cost_seconds * 100 | round / 100) CPU-s spent)" else "\($r.cost_per_compromise_seconds * 10000 | round / 10000) CPU-s" end) +
		" | \($r.legit_known_device_success * 1000 | round / 10)% | \($what), `\($cmd)` |"' --arg what "$what" "$3"
}

echo "| service | setup | accounts taken (of valid pairs tried) | attacker requests | challenges solved | attacker cost per account | known-device success | measured on |"
echo "|---|---|---|---|---|---|---|---|"
what="stand-in"
[ -z "$real" ] || what="real service"
for svc in "${services[@]}"; do
	format=userpass
	if [ -n "$real" ]; then
		format=$([ "$svc" = kratos ] && echo kratos-identities || echo authelia-yaml)
	fi
	# shellcheck disable=SC2046
	"$cs" simulate --population-out "$work/$svc.pop" --population-format "$format" --profile "$svc" $(realm_args "$svc") \
		--users "$users" --pairs "$pairs" --seed "$seed" --argon2-memory 8192 --argon2-time 1 --insecure-weak-hash >/dev/null
	cmd="scripts/profile-table.sh $svc"
	[ -z "$real" ] || cmd="REAL=1 $cmd"

	service "$svc-alone" "$svc"
	sim "$svc" "$url" "$work/$svc-alone.json"
	row "$svc" alone "$work/$svc-alone.json" "$cmd"
	scan_line "$svc" alone "$url"
	kill "${pids[-1]}"
	wait "${pids[-1]}" 2>/dev/null || true

	service "$svc-upstream" "$svc"
	# shellcheck disable=SC2046
	start "$svc-protect" "$protect" protect --profile "$svc" $(realm_args "$svc") --upstream "$url" --listen 127.0.0.1:0 \
		--data-dir "$work/$svc-data" --trusted-proxies 127.0.0.1/32 --log-level error
	sim "$svc" "$url" "$work/$svc-protect.json"
	row "$svc" "behind credshield protect" "$work/$svc-protect.json" "$cmd"
	kill "${pids[-1]}"
	wait "${pids[-1]}" 2>/dev/null || true
	# The scanner is a client, not a trusted proxy: a protect that trusts
	# none, in front of the same service.
	upstream=$(sed -n 's/.*is protecting \(http[^ ]*\) on.*/\1/p' "$work/$svc-protect.out")
	# shellcheck disable=SC2046
	start "$svc-protect-scan" "$protect" protect --profile "$svc" $(realm_args "$svc") --upstream "$upstream" --listen 127.0.0.1:0 \
		--data-dir "$work/$svc-data-scan" --log-level error
	scan_line "$svc" "behind credshield protect" "$url"
	kill "${pids[-1]}" "${pids[-3]}" # this protect and the service (the other protect is gone)
	wait "${pids[-1]}" "${pids[-3]}" 2>/dev/null || true
done
echo
cat "$work/scans"
