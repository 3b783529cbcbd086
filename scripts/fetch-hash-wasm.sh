#!/usr/bin/env bash
# Re-fetch the argon2 build of hash-wasm that credshield serves to browsers
# (internal/challenge/browser/static/vendor) and check it against the
# recorded SHA-256. With no argument it checks that the vendored file is
# exactly what npm serves for the recorded version; with --update VERSION
# it fetches that version, replaces the vendored files and prints the new
# hashes to record in VERSION (review the diff before committing).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=internal/challenge/browser/static/vendor
field() { sed -n "s/^$1=//p" "$dir/VERSION"; }

version=$(field version)
update=
if [ "${1:-}" = "--update" ]; then
	version=${2:?usage: $0 [--update VERSION]}
	update=1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "hash-wasm@$version" >/dev/null && tar xzf "hash-wasm-$version.tgz")
licence=$(cd "$tmp/package" && node -p 'require("./package.json").license')
[ "$licence" = MIT ] || { echo "hash-wasm $version is licensed $licence, not MIT" >&2; exit 1; }
got=$(sha256sum "$tmp/package/dist/argon2.umd.min.js" | cut -d' ' -f1)
got_licence=$(sha256sum "$tmp/package/LICENSE" | cut -d' ' -f1)

if [ -n "$update" ]; then
	cp "$tmp/package/dist/argon2.umd.min.js" "$dir/hash-wasm-argon2.umd.min.js"
	cp "$tmp/package/LICENSE" "$dir/hash-wasm-LICENSE"
	echo "hash-wasm $version: record in $dir/VERSION:"
	echo "  version=$version"
	echo "  integrity=$(cd "$tmp" && npm view "hash-wasm@$version" dist.integrity)"
	echo "  sha256=$got"
	echo "  licence_sha256=$got_licence"
	exit 0
fi

want=$(field sha256)
have=$(sha256sum "$dir/hash-wasm-argon2.umd.min.js" | cut -d' ' -f1)
status=0
[ "$got" = "$want" ] || { echo "npm's hash-wasm $version argon2.umd.min.js has sha256 $got, VERSION records $want" >&2; status=1; }
[ "$have" = "$want" ] || { echo "the vendored file has sha256 $have, VERSION records $want" >&2; status=1; }
[ "$got_licence" = "$(field licence_sha256)" ] || { echo "the licence changed: sha256 $got_licence" >&2; status=1; }
[ $status = 0 ] && echo "hash-wasm $version: the vendored argon2 build matches npm ($want)"
exit $status
