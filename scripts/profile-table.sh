#!/usr/bin/env bash
# profile-table.sh: measures what credshield protect adds in front of each
# service the login profiles describe, with credshield simulate --target
# --profile against the stand-ins (internal/loginapi/standin): one botnet
# run against the service alone, one against it behind credshield protect
# --profile, each on a fresh stand-in with the same population and combo
# list. Prints one Markdown table row per run (the README's table).
#
#   scripts/profile-table.sh [kratos] [authelia]
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
[ ${#services[@]} -gt 0 ] || services=(kratos authelia)

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/credshield" ./cmd/credshield
go build -o "$work/standin" ./internal/loginapi/standin/cmd/standin
cs=$work/credshield
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

sim() { # sim PROFILE TARGET OUT
	"$cs" simulate --target "$2" --profile "$1" --scenario botnet --seed "$seed" \
		--users "$users" --pairs "$pairs" --attacker-budget "$budget" --duration 5m \
		--legit-users "$legit_users" --legit-logins "$legit_logins" --quiet-logins 0 \
		--botnet-size 2000 --attack-workers 8 --format json --out "$3"
}

row() { # row SERVICE SETUP REPORT COMMAND
	jq -r --arg s "$1" --arg setup "$2" --arg cmd "$4" '.results[0] as $r |
		"| \($s) | \($setup) | \($r.compromised) of \($r.valid_pairs_tried) | \($r.attacker_requests) | \($r.attacker_challenges_solved) | " +
		(if $r.cost_per_compromise_seconds == null then "none taken (\($r.attacker_cost_seconds * 100 | round / 100) CPU-s spent)" else "\($r.cost_per_compromise_seconds * 10000 | round / 10000) CPU-s" end) +
		" | \($r.legit_known_device_success * 1000 | round / 10)% | stand-in, `\($cmd)` |"' "$3"
}

echo "| service | setup | accounts taken (of valid pairs tried) | attacker requests | challenges solved | attacker cost per account | known-device success | measured on |"
echo "|---|---|---|---|---|---|---|---|"
for svc in "${services[@]}"; do
	"$cs" simulate --population-out "$work/$svc.pop" --population-format userpass --profile "$svc" \
		--users "$users" --pairs "$pairs" --seed "$seed" >/dev/null
	cmd="scripts/profile-table.sh $svc"

	start "$svc-alone" "$work/standin" -service "$svc" -users "$work/$svc.pop"
	sim "$svc" "$url" "$work/$svc-alone.json"
	row "$svc" alone "$work/$svc-alone.json" "$cmd"
	kill "${pids[-1]}"

	start "$svc-upstream" "$work/standin" -service "$svc" -users "$work/$svc.pop"
	start "$svc-protect" "$protect" protect --profile "$svc" --upstream "$url" --listen 127.0.0.1:0 \
		--data-dir "$work/$svc-data" --trusted-proxies 127.0.0.1/32 --log-level error
	sim "$svc" "$url" "$work/$svc-protect.json"
	row "$svc" "behind credshield protect" "$work/$svc-protect.json" "$cmd"
	kill "${pids[-1]}" "${pids[-2]}"
done
