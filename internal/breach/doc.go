// Package breach screens passwords offline against breached and common
// passwords, so a password that has already leaked cannot be set, without
// asking a third party at login or at set time.
//
// # Breached passwords: a sharded binary fuse filter
//
// The source is Have I Been Pwned's "Pwned Passwords" corpus: lines of
// HASH:COUNT, where HASH is the upper-case hex SHA-1 of a leaked password
// and COUNT how often it was seen. About a billion hashes: a set that large
// cannot be kept as hashes (20 GB), but it can be kept as a filter that
// answers "maybe in the set" or "certainly not". [Build] keeps every hash
// whose count reaches a minimum in a binary fuse filter
// (github.com/FastFilter/xorfilter) with 16-bit fingerprints: about 18 bits
// per entry, and a false-positive rate of 2^-16 (one good password in 65,536
// is wrongly refused; 8-bit fingerprints would refuse one in 256).
//
// Building a binary fuse filter needs every key in memory at once, so the
// corpus is split by the top bits of the hash into shards (256 by default)
// built one at a time. Input need not be sorted: a first pass spills the
// 64-bit keys of each shard into a temporary file of its own (8 bytes a
// key, beside the output), a second pass builds each shard from its file.
// Memory is that of the largest shard (about 30 bytes a key while it is
// built: ~120 MiB for a 4-million-key shard of the full corpus), whatever
// the corpus size.
//
// # File format
//
// One file, little-endian, all offsets from the start:
//
//	magic        8 bytes  "CSBREACH"
//	version      uint32   1
//	fingerprint  uint32   16 (bits)
//	shards       uint32   a power of two, 1..65536
//	reserved     uint32   0
//	min count    uint64   the --min-count the filter was built with
//	entries      uint64   distinct keys, all shards
//	digest       32 bytes SHA-256 of the shard table and every shard's data
//	shard table  shards × 48 bytes: data offset uint64, entries uint64,
//	             seed uint64, segment length, segment length mask,
//	             segment count, segment count length, fingerprints (uint32
//	             each), CRC-32C of the shard's fingerprints (uint32)
//	header CRC   uint32   CRC-32C of every byte above
//	data         each shard's fingerprints (uint16), 8-byte aligned
//
// The digest identifies the filter: the store records the digest of the
// filter last imported, so replicas can tell that their copies differ.
//
// # Lookups
//
// [Open] memory-maps the file (on Unix; elsewhere it reads it) and checks
// the header and its CRC; a shard's CRC is checked the first time it is
// used. A lookup hashes nothing but the SHA-1 of the password and reads
// three 16-bit words: well under a microsecond once its pages are resident.
// Mapping rather than reading keeps a replica's start instant and lets the
// kernel share and evict the pages (the full corpus is about 2 GiB).
// Lookups run only where a password is set, or after a successful login of
// an imported account; never before the guard has admitted an attempt.
//
// # Common passwords
//
// [Common] is an embedded list of 49,233 common passwords, so screening
// works with no import: the passwords list of the npm package
// @zxcvbn-ts/language-common 4.1.3 (MIT licence; see commonlist/SOURCE
// and commonlist/LICENSE), fetched and checked by
// scripts/fetch-common-passwords.sh.
package breach
