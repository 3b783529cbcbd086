#!/usr/bin/env bash
# End-to-end check of the authelia and kratos login profiles against the
# real services, built from the Go module proxy: Authelia v4.37.5 and Ory
# Kratos v1.3.1 (later Authelia versions need modules the proxy refuses).
# Not run in CI: the two builds take minutes. Everything listens on
# loopback; both services keep their data in PostgreSQL databases of
# their own (created here) on 127.0.0.1:5432, trust authentication.
#
#   scripts/e2e-real-services.sh           build (once, cached), start, check
#   scripts/e2e-real-services.sh build     only build
#
# Phases: (1) build each service from a writable copy of its module (the
# Kratos zip lacks the nested internal/client-go module, recreated from
# internal/httpclient); (2) start each with a config written here; (3) log
# in directly: a right password succeeds, a wrong one fails in the shape
# the profile expects; (4) when `credshield protect` has --profile, guard
# each service and run a one-address and a botnet burst (through a trusted
# proxy header), then check that the real user still logs in with the
# device credential earned before the attack.
#
# Environment: CREDSHIELD_E2E_CACHE (built binaries, default
# ~/.cache/credshield-e2e), CREDSHIELD_E2E_PG (default
# postgres://postgres@127.0.0.1:5432), CREDSHIELD_E2E_BURST (attempts per
# burst, default 40).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

cache=${CREDSHIELD_E2E_CACHE:-$HOME/.cache/credshield-e2e}
pg=${CREDSHIELD_E2E_PG:-postgres://postgres@127.0.0.1:5432}
burst=${CREDSHIELD_E2E_BURST:-40}
authelia_version=v4.37.5
kratos_version=v1.3.1
mkdir -p "$cache/bin"

log() { printf '== %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# module_copy MODULE VERSION DEST: a writable copy of the module's source.
module_copy() {
	local dir
	dir=$(go mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -n "$dir" ] || fail "go mod download $1@$2"
	rm -rf "$3"
	cp -r "$dir" "$3"
	chmod -R u+w "$3"
}

# build NAME MODULE VERSION PACKAGE [PREPARE]: build PACKAGE of a
# writable copy of MODULE@VERSION to $cache/bin/NAME-VERSION, once;
# PREPARE runs in the copy first.
build() {
	local name=$1 module=$2 version=$3 pkg=$4 prepare=${5:-}
	local bin=$cache/bin/$name-$version src=$cache/src/$name
	[ -x "$bin" ] && return
	log "building $name $version"
	mkdir -p "$cache/src"
	module_copy "$module" "$version" "$src"
	[ -z "$prepare" ] || (cd "$src" && "$prepare")
	local t0=$SECONDS
	(cd "$src" && GOFLAGS=-mod=mod nice go build -trimpath -o "$bin" "$pkg")
	log "$name built in $((SECONDS - t0)) s"
}

# kratos_client_go recreates internal/client-go: go.mod replaces
# github.com/ory/client-go with it, and the module zip leaves it out (a
# directory with its own go.mod is another module). It is generated from
# the same spec as internal/httpclient.
kratos_client_go() {
	mkdir -p internal/client-go
	cp internal/httpclient/*.go internal/client-go/
	printf 'module github.com/ory/client-go\n\ngo 1.18\n\nrequire golang.org/x/oauth2 v0.21.0\n' >internal/client-go/go.mod
}

build_credshield() {
	(cd "$repo" && go build -o "$work/credshield" ./cmd/credshield)
}

# fresh_db NAME: drop and create a database for one service.
fresh_db() {
	psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null 2>&1
	dbs+=("$1")
}

# wait_http URL: until URL answers at all (any status), at most 60 s.
wait_http() {
	for _ in $(seq 120); do
		curl -s -o /dev/null "$1" && return
		sleep 0.5
	done
	fail "$1 did not come up"
}

rand_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

pids=()
dbs=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for db in "${dbs[@]}"; do psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
}

# start_authelia NAME PORT MAX_RETRIES: an Authelia in $work/NAME;
# MAX_RETRIES 0 turns its own regulation off, as docs/protect.md
# recommends behind protect.
start_authelia() {
	local name=$1 port=$2 retries=$3
	local dir=$work/$name bin=$cache/bin/authelia-$authelia_version db=credshield_e2e_$name
	mkdir -p "$dir"
	fresh_db "$db"
	# Random passwords and their argon2id digests, without a password
	# ever being an argument: alice logs in, bob gets banned.
	local user out digest users="users:"
	for user in alice bob; do
		out=$("$bin" crypto hash generate argon2 --random --random.length 24 --iterations 1 --memory 8192 --parallelism 1)
		printf '%s\n' "$out" | sed -n 's/^Random Password: //p' >"$dir/$user.password"
		digest=$(printf '%s\n' "$out" | sed -n 's/^Digest: //p')
		[ -s "$dir/$user.password" ] && [ -n "$digest" ] || fail "authelia crypto hash generate: $out"
		users+=$(printf '\n  %s:\n    displayname: %s\n    password: "%s"\n    email: %s@example.com' "$user" "$user" "$digest" "$user")
	done
	printf '%s\n' "$users" >"$dir/users.yml"
	umask 077
	cat >"$dir/configuration.yml" <<EOF
theme: light
jwt_secret: $(rand_hex 32)
default_redirection_url: https://home.example.com/
server:
  host: 127.0.0.1
  port: $port
log:
  level: info
totp:
  issuer: example.com
authentication_backend:
  file:
    path: $dir/users.yml
access_control:
  default_policy: one_factor
session:
  name: authelia_session
  domain: example.com
  secret: $(rand_hex 32)
regulation:
  max_retries: $retries
  find_time: 2m
  ban_time: 5m
storage:
  encryption_key: $(rand_hex 32)
  postgres:
    host: 127.0.0.1
    port: 5432
    database: $db
    username: postgres
    password: unused-trust-auth
notifier:
  filesystem:
    filename: $dir/notification.txt
EOF
	umask 022
	"$bin" --config "$dir/configuration.yml" >"$dir/log" 2>&1 &
	pids+=($!)
	wait_http "http://127.0.0.1:$port/api/health" || { tail -20 "$dir/log"; exit 1; }
	log "Authelia ($name, max_retries $retries) up (log: $dir/log)"
}

start_kratos() {
	local dir=$work/kratos bin=$cache/bin/kratos-$kratos_version
	mkdir -p "$dir"
	fresh_db credshield_e2e_kratos
	cat >"$dir/identity.schema.json" <<'EOF'
{
  "$id": "https://example.com/identity.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string",
          "format": "email",
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}
        }
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}
EOF
	umask 077
	cat >"$dir/kratos.yml" <<EOF
version: $kratos_version
dsn: $pg/credshield_e2e_kratos?sslmode=disable
serve:
  public:
    base_url: http://127.0.0.1:19433/
    host: 127.0.0.1
    port: 19433
  admin:
    base_url: http://127.0.0.1:19434/
    host: 127.0.0.1
    port: 19434
selfservice:
  default_browser_return_url: http://127.0.0.1:19455/
  allowed_return_urls: [http://127.0.0.1:19455/]
  methods:
    password:
      enabled: true
  flows:
    login:
      ui_url: http://127.0.0.1:19455/login
    error:
      ui_url: http://127.0.0.1:19455/error
identity:
  default_schema_id: default
  schemas:
    - id: default
      url: file://$dir/identity.schema.json
hashers:
  algorithm: argon2
  argon2:
    memory: 8MB
    iterations: 1
    parallelism: 1
    salt_length: 16
    key_length: 32
    expected_duration: 50ms
    expected_deviation: 40ms
secrets:
  cookie: [$(rand_hex 16)]
  cipher: [$(rand_hex 16)]
courier:
  smtp:
    connection_uri: smtp://unused:unused@127.0.0.1:19025/?disable_starttls=true
log:
  level: info
EOF
	rand_hex 12 >"$dir/alice.password"
	umask 022
	"$bin" migrate sql -e --yes -c "$dir/kratos.yml" >"$dir/migrate.log" 2>&1 || { tail -20 "$dir/migrate.log"; exit 1; }
	"$bin" serve -c "$dir/kratos.yml" --dev >"$dir/log" 2>&1 &
	pids+=($!)
	wait_http http://127.0.0.1:19433/health/ready || { tail -20 "$dir/log"; exit 1; }
	# The password goes in a request body read from a file, never argv.
	printf '{"schema_id":"default","traits":{"email":"alice@example.com"},"credentials":{"password":{"config":{"password":"%s"}}}}' \
		"$(cat "$dir/alice.password")" >"$dir/identity.json"
	curl -sf -o /dev/null -H 'Content-Type: application/json' --data @"$dir/identity.json" http://127.0.0.1:19434/admin/identities ||
		fail "creating the Kratos identity"
	rm "$dir/identity.json"
	log "Kratos up (log: $dir/log)"
}

# The login requests. Each prints "STATUS BODY" and writes headers to
# $work/h; PASSWORD comes from a file or is a fixed wrong one; extra curl
# arguments follow (a proxy header, a device credential).
authelia_login() { # BASE PASSWORD_FILE|- [curl args]
	local base=$1 pwfile=$2 pw=wrong-password
	shift 2
	[ "$pwfile" = - ] || pw=$(cat "$pwfile")
	printf '{"username":"alice","password":"%s","keepMeLoggedIn":false}' "$pw" >"$work/body"
	curl -s -D "$work/h" -o "$work/out" -w '%{http_code}' -H 'Content-Type: application/json' --data @"$work/body" "$@" "$base/api/firstfactor"
	printf ' %s\n' "$(cat "$work/out")"
}

kratos_login() { # BASE PASSWORD_FILE|- [curl args]
	local base=$1 pwfile=$2 pw=wrong-password flow
	shift 2
	[ "$pwfile" = - ] || pw=$(cat "$pwfile")
	flow=$(curl -s "$@" "$base/self-service/login/api" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
	[ -n "$flow" ] || { echo "000 no flow"; return; }
	printf '{"method":"password","identifier":"alice@example.com","password":"%s"}' "$pw" >"$work/body"
	curl -s -D "$work/h" -o "$work/out" -w '%{http_code}' -H 'Content-Type: application/json' --data @"$work/body" "$@" "$base/self-service/login?flow=$flow"
	printf ' %s\n' "$(cat "$work/out")"
}

check_direct() {
	log "direct logins"
	local r
	r=$(authelia_login http://127.0.0.1:19091 "$work/authelia/alice.password")
	[[ $r == 200*'"status":"OK"'* ]] && grep -qi '^set-cookie: authelia_session=' "$work/h" || fail "authelia right password: $r"
	r=$(authelia_login http://127.0.0.1:19091 -)
	[[ $r == 401*'"status":"KO"'* ]] || fail "authelia wrong password: $r"
	! grep -qi '^set-cookie: authelia_session=[^;]' "$work/h" || echo "note: Authelia sets authelia_session on a failure too"
	echo "authelia direct: right password 200 OK + authelia_session; wrong password $r"
	r=$(kratos_login http://127.0.0.1:19433 "$work/kratos/alice.password")
	[[ $r == 200*'"session_token":"'* ]] || fail "kratos right password: $r"
	r=$(kratos_login http://127.0.0.1:19433 -)
	[[ $r == 400*'"id":4000006'* ]] || fail "kratos wrong password: ${r:0:300}"
	echo "kratos direct: right password 200 session_token; wrong password 400 with message 4000006"
	log "the profiles read the real answers (go test -run TestRealServices ./internal/loginapi/)"
	CREDSHIELD_E2E_AUTHELIA_URL=http://127.0.0.1:19091 \
		CREDSHIELD_E2E_AUTHELIA_PASSWORD_FILE="$work/authelia/alice.password" \
		CREDSHIELD_E2E_AUTHELIA_BOB_PASSWORD_FILE="$work/authelia/bob.password" \
		CREDSHIELD_E2E_KRATOS_URL=http://127.0.0.1:19433 \
		CREDSHIELD_E2E_KRATOS_PASSWORD_FILE="$work/kratos/alice.password" \
		go test -count=1 -v -run TestRealServices ./internal/loginapi/ | grep -E -- '^(---|===|ok|FAIL|PASS)|->' || fail "TestRealServices"
}

# burst NAME LOGINFN BASE [curl args]: BURST wrong passwords, tallied by
# whether the service judged them (its own failure) or protect refused.
burst() {
	local name=$1 fn=$2 base=$3 judged=0 refused=0 other=0 r
	shift 3
	for i in $(seq "$burst"); do
		local args=("$@")
		[ "${args[0]:-}" = botnet ] && args=(-H "X-Forwarded-For: 198.51.$((i / 250)).$((i % 250 + 1))")
		r=$("$fn" "$base" - "${args[@]}")
		case $r in
		429* | *challenge*) refused=$((refused + 1)) ;;
		401*'"status":"KO"'* | 400*'"id":4000006'*) judged=$((judged + 1)) ;;
		*) other=$((other + 1)); echo "  unexpected: ${r:0:160}" ;;
		esac
	done
	echo "$name: $burst attempts: $judged judged by the service, $refused refused by protect, $other other"
}

# check_protect PROFILE LOGINFN UPSTREAM PASSWORD_FILE PORT BURST: a fresh
# protect in front of UPSTREAM; the real user earns a device credential,
# then a BURST (one-address or botnet) of wrong passwords for that user,
# then the real user logs in again with the device credential.
check_protect() {
	local profile=$1 fn=$2 upstream=$3 pwfile=$4 port=$5 kind=$6
	local dir=$work/protect-$profile-$kind
	mkdir -p "$dir"
	"$work/credshield" protect --profile "$profile" --upstream "$upstream" --listen "127.0.0.1:$port" \
		--data-dir "$dir" --trusted-proxies 127.0.0.1/32 >"$dir/log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	wait_http "http://127.0.0.1:$port/"
	local base=http://127.0.0.1:$port r device
	r=$("$fn" "$base" "$pwfile")
	device=$(sed -n 's/^[Cc]redshield-[Dd]evice: \([^\r]*\).*/\1/p' "$work/h")
	[ -n "$device" ] || fail "$profile: a successful login through protect earned no device credential: ${r:0:200}"
	echo "$profile through protect: the real user logs in and earns a device credential"
	if [ "$kind" = botnet ]; then
		burst "$profile botnet burst" "$fn" "$base" botnet
	else
		burst "$profile one-address burst" "$fn" "$base"
	fi
	r=$("$fn" "$base" "$pwfile" -H "Credshield-Device: $device")
	case $r in
	200*) echo "$profile: the real user with the device credential logs in during the attack" ;;
	*) fail "$profile: the real user with the device credential was refused: ${r:0:200}" ;;
	esac
	kill "$pid"
}

build authelia github.com/authelia/authelia/v4 "$authelia_version" ./cmd/authelia
build kratos github.com/ory/kratos "$kratos_version" . kratos_client_go
[ "${1:-}" = build ] && exit 0

work=$(mktemp -d)
trap 'cleanup; rm -rf "$work"' EXIT
start_authelia authelia 19091 3
start_kratos
check_direct
build_credshield
if ! "$work/credshield" protect --help 2>&1 | grep -q -- '--profile'; then
	log "credshield protect has no --profile yet: skipping the checks through protect"
	exit 0
fi
# Behind protect, Authelia's own ban is off (docs/protect.md): with it on,
# the few guesses the guard lets through per account ban the real user.
start_authelia authelia_behind 19092 0
check_protect authelia authelia_login http://127.0.0.1:19092 "$work/authelia_behind/alice.password" 18091 one-address
check_protect authelia authelia_login http://127.0.0.1:19092 "$work/authelia_behind/alice.password" 18092 botnet
check_protect kratos kratos_login http://127.0.0.1:19433 "$work/kratos/alice.password" 18433 one-address
check_protect kratos kratos_login http://127.0.0.1:19433 "$work/kratos/alice.password" 18434 botnet
