#!/usr/bin/env bash
# Re-fetch the two WebAssembly modules of hash-wasm that credshield serves
# to browsers for argon2id (internal/challenge/browser/static/vendor) and
# check them against the SHA-256 sums recorded in VERSION. npm's package
# ships them base64-encoded inside dist/argon2.umd.min.js; this script
# extracts them unchanged. With no argument it checks that the vendored
# modules are exactly what npm serves for the recorded version; with
# --update VERSION it fetches that version, replaces the vendored files and
# prints the new sums to record in VERSION (review the diff before
# committing). Needs npm and node.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=internal/challenge/browser/static/vendor
field() { sed -n "s/^$1=//p" "$dir/VERSION"; }
sum() { sha256sum "$1" | cut -d' ' -f1; }

version=$(field version)
update=
case "$#:${1:-}" in
0:) ;;
2:--update) version=$2 update=1 ;;
*) echo "usage: $0 [--update VERSION]" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "hash-wasm@$version" >/dev/null && tar xzf "hash-wasm-$version.tgz")
licence=$(cd "$tmp/package" && node -p 'require("./package.json").license')
[ "$licence" = MIT ] || { echo "hash-wasm $version is licensed $licence, not MIT" >&2; exit 1; }
# Each module is embedded as {name:"argon2",data:"<base64>",...}.
node -e '
const fs = require("fs");
const src = fs.readFileSync(process.argv[1], "utf8");
for (const name of ["argon2", "blake2b"]) {
  const m = src.match(new RegExp("name:\"" + name + "\",data:\"([A-Za-z0-9+/=]+)\""));
  if (!m) { console.error("no " + name + " module in " + process.argv[1]); process.exit(1); }
  fs.writeFileSync(process.argv[2] + "/hash-wasm-" + name + ".wasm", Buffer.from(m[1], "base64"));
}' "$tmp/package/dist/argon2.umd.min.js" "$tmp"

if [ -n "$update" ]; then
	cp "$tmp/hash-wasm-argon2.wasm" "$tmp/hash-wasm-blake2b.wasm" "$dir/"
	cp "$tmp/package/LICENSE" "$dir/hash-wasm-LICENSE"
	echo "hash-wasm $version: record in $dir/VERSION:"
	echo "  version=$version"
	echo "  source=https://registry.npmjs.org/hash-wasm/-/hash-wasm-$version.tgz"
	echo "  integrity=$(cd "$tmp" && npm view "hash-wasm@$version" dist.integrity)"
	echo "  from_sha256=$(sum "$tmp/package/dist/argon2.umd.min.js")"
	echo "  argon2_sha256=$(sum "$tmp/hash-wasm-argon2.wasm")"
	echo "  blake2b_sha256=$(sum "$tmp/hash-wasm-blake2b.wasm")"
	echo "  licence_sha256=$(sum "$tmp/package/LICENSE")"
	exit 0
fi

status=0
check() { # what, file from npm, vendored file, recorded sum
	[ "$(sum "$2")" = "$4" ] || { echo "npm's hash-wasm $version: $1 has sha256 $(sum "$2"), VERSION records $4" >&2; status=1; }
	[ -z "$3" ] || [ "$(sum "$3")" = "$4" ] || { echo "the vendored $1 has sha256 $(sum "$3"), VERSION records $4" >&2; status=1; }
}
check dist/argon2.umd.min.js "$tmp/package/dist/argon2.umd.min.js" "" "$(field from_sha256)"
check "argon2 module" "$tmp/hash-wasm-argon2.wasm" "$dir/hash-wasm-argon2.wasm" "$(field argon2_sha256)"
check "blake2b module" "$tmp/hash-wasm-blake2b.wasm" "$dir/hash-wasm-blake2b.wasm" "$(field blake2b_sha256)"
integrity=$(cd "$tmp" && npm view "hash-wasm@$version" dist.integrity)
[ "$integrity" = "$(field integrity)" ] || { echo "npm's hash-wasm $version has integrity $integrity, VERSION records $(field integrity)" >&2; status=1; }
check LICENSE "$tmp/package/LICENSE" "$dir/hash-wasm-LICENSE" "$(field licence_sha256)"
[ $status = 0 ] && echo "hash-wasm $version: the vendored modules match npm"
exit $status
