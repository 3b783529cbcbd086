#!/usr/bin/env bash
# Build release binaries of credshield: static (CGO_ENABLED=0, so they run on
# any Linux or macOS without a C library to match), reproducible paths
# (-trimpath), the version stamped into `credshield version`, and a
# SHA256SUMS file to verify downloads with `sha256sum -c SHA256SUMS`.
#
#   scripts/release.sh [VERSION] [TARGET...]
#
# VERSION defaults to `git describe --tags --dirty` (v0.0.0-dev without a
# tag). TARGETs are GOOS/GOARCH pairs; the default is every supported one:
# linux/amd64 linux/arm64 darwin/amd64 darwin/arm64. Output goes to
# dist/VERSION/ (override with DIST=dir). Run it from a clean clone of the
# commit being released (Go stamps the revision from a clone's .git
# directory, not from a `git worktree`); a dirty tree is refused unless
# ALLOW_DIRTY=1.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-$(git describe --tags --dirty 2>/dev/null || echo v0.0.0-dev)}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64)
fi
case "$version" in
*[!A-Za-z0-9._+-]*) echo "release: version $version: letters, digits and ._+- only" >&2; exit 2 ;;
esac
if [ -n "$(git status --porcelain 2>/dev/null)" ] && [ "${ALLOW_DIRTY:-}" != 1 ]; then
	echo "release: the working tree has uncommitted changes; commit them or set ALLOW_DIRTY=1" >&2
	exit 1
fi

dist="${DIST:-dist/$version}"
mkdir -p "$dist"
for target in "${targets[@]}"; do
	goos="${target%/*}" goarch="${target#*/}"
	case "$target" in
	linux/amd64 | linux/arm64 | darwin/amd64 | darwin/arm64) ;;
	*) echo "release: unsupported target $target" >&2; exit 2 ;;
	esac
	out="$dist/credshield-$version-$goos-$goarch"
	echo "building $out"
	CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" go build -trimpath -buildvcs=true \
		-ldflags "-s -w -X main.version=$version" -o "$out" ./cmd/credshield
	if ! go version -m "$out" | grep -q vcs.revision; then
		echo "release: warning: $out carries no source revision (not built from a git clone?)" >&2
	fi
done
(
	cd "$dist"
	sha256sum credshield-"$version"-* >SHA256SUMS
	cat SHA256SUMS
)
