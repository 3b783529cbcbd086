// Package clientip finds the address of the client behind a request, the
// address every per-IP and per-subnet budget is keyed on.
//
// The socket peer is the only address a client cannot choose, so it is the
// default. Forwarding headers are read only when the peer is a configured
// trusted proxy, and then only the one configured header: a client that adds
// its own X-Forwarded-For, X-Real-IP or Forwarded header to pick an address,
// or to spread its attempts over many budgets, is ignored.
//
// Within the configured header the list is walked from the right (the end
// the trusted proxies append to), skipping addresses that are themselves
// trusted proxies; the first other address is the client. Entries to its
// left were written by the client or by untrusted hops and are never read.
//
// Supported headers: X-Forwarded-For (RFC 7239 §7.5 describes its de facto
// form), Forwarded (RFC 7239: for= parameters, quoted strings, IPv6 in
// brackets, ports, "unknown" and obfuscated identifiers), and any header
// that carries a single address, such as X-Real-IP, CF-Connecting-IP or
// True-Client-IP.
package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
)

// DefaultHeader is the header read from trusted proxies when none is named.
const DefaultHeader = "X-Forwarded-For"

// Limits on the work one request can cause. A real proxy chain is a handful
// of hops; anything longer is treated as malformed.
const (
	// MaxHeaderBytes caps the total size of the configured header's values.
	MaxHeaderBytes = 4 << 10
	// MaxEntries caps how many list entries, counted from the right, are
	// considered. A chain of more trusted proxies than this is malformed.
	MaxEntries = 64
)

// Errors returned by this package; check them with errors.Is.
var (
	// ErrRemoteAddr means the socket address is not an IP address (for
	// example a Unix socket), so no client address can be found.
	ErrRemoteAddr = errors.New("remote address is not an IP address")
	// ErrHeaderName means the configured header name is not an HTTP token.
	ErrHeaderName = errors.New("invalid header name")
	// ErrPrefix means a trusted proxy prefix is invalid.
	ErrPrefix = errors.New("invalid trusted proxy prefix")
)

// format is how the configured header encodes addresses.
type format uint8

const (
	formatSingle    format = iota // one address, no list (X-Real-IP, ...)
	formatXFF                     // comma-separated addresses
	formatForwarded               // RFC 7239 elements with for= parameters
)

// Resolver finds the client address of a request.
//
// The zero value uses the socket address only and never reads a header.
// A Resolver is immutable after NewResolver and safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
	header  string // canonical MIME form
	format  format
}

// NewResolver returns a Resolver that believes header only when the socket
// peer is inside one of the trusted prefixes. An empty header means
// X-Forwarded-For. With no trusted prefixes the header is never read.
// IPv4-mapped IPv6 prefixes (::ffff:10.0.0.0/104) are converted to IPv4,
// because addresses are compared in unmapped form.
func NewResolver(trusted []netip.Prefix, header string) (*Resolver, error) {
	if header == "" {
		header = DefaultHeader
	}
	if !isToken(header) {
		return nil, fmt.Errorf("clientip: header %q: %w", header, ErrHeaderName)
	}
	r := &Resolver{header: textproto.CanonicalMIMEHeaderKey(header)}
	switch r.header {
	case "X-Forwarded-For":
		r.format = formatXFF
	case "Forwarded":
		r.format = formatForwarded
	default:
		r.format = formatSingle
	}
	for i, p := range trusted {
		if !p.IsValid() {
			return nil, fmt.Errorf("clientip: trusted proxy %d (%v): %w", i+1, p, ErrPrefix)
		}
		r.trusted = append(r.trusted, normalizePrefix(p))
	}
	return r, nil
}

// Header returns the canonical name of the header the Resolver reads from
// trusted proxies, for logs and diagnostics.
func (r *Resolver) Header() string {
	if r.header == "" {
		return DefaultHeader
	}
	return r.header
}

// ClientIP returns the client address for a request that arrived on a
// socket whose peer is remoteAddr (http.Request.RemoteAddr: "ip:port" or
// "[v6]:port") carrying headers h.
//
// The result is the socket peer unless the peer is a trusted proxy and the
// configured header names a client. If that header is missing, empty,
// longer than MaxHeaderBytes, or an entry that must be read is malformed,
// the result is the peer: a trusted proxy that sends a broken chain is
// misconfigured, and keying such traffic on the proxy's own address puts it
// all in one budget, which fails closed rather than letting the sender pick
// a fresh budget per request.
//
// The returned address is unmapped (::ffff:1.2.3.4 becomes 1.2.3.4) and has
// no zone. The only error is ErrRemoteAddr.
func (r *Resolver) ClientIP(remoteAddr string, h http.Header) (netip.Addr, error) {
	peer, trusted, ok := r.peer(remoteAddr)
	if !ok {
		return netip.Addr{}, fmt.Errorf("clientip: %w", ErrRemoteAddr)
	}
	if !trusted {
		return peer, nil
	}
	if client, ok := r.fromHeader(h); ok {
		return client, nil
	}
	return peer, nil
}

// PeerTrusted reports whether the socket peer remoteAddr
// (http.Request.RemoteAddr) is one of the trusted proxies: the one rule
// for every header only a trusted proxy may set (the client address here,
// a forward-auth request's original method and URI, X-Forwarded-Proto and
// -Host at the gateway). IPv4-mapped IPv6 addresses and prefixes compare
// as the IPv4 ones they map; an address that is not an IP is not trusted.
func (r *Resolver) PeerTrusted(remoteAddr string) bool {
	_, trusted, _ := r.peer(remoteAddr)
	return trusted
}

// peer parses remoteAddr (unmapped, without zone) and reports whether it
// is a trusted proxy; ok is false when it is not an IP address.
func (r *Resolver) peer(remoteAddr string) (a netip.Addr, trusted, ok bool) {
	a, ok = parseRemoteAddr(remoteAddr)
	return a, ok && r.isTrusted(a), ok
}

// isTrusted reports whether a is inside a trusted proxy prefix.
func (r *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fromHeader returns the client named by the configured header, or false
// when the header is absent, oversized or malformed where it matters.
func (r *Resolver) fromHeader(h http.Header) (netip.Addr, bool) {
	vals := h.Values(r.Header())
	if len(vals) == 0 {
		return netip.Addr{}, false
	}
	total := 0
	for _, v := range vals {
		total += len(v)
	}
	if total > MaxHeaderBytes {
		return netip.Addr{}, false
	}
	if r.format == formatSingle {
		// A second line means a proxy appended instead of replacing:
		// which line is the client's own is unknowable.
		if len(vals) != 1 {
			return netip.Addr{}, false
		}
		return parseXFFEntry(trimOWS(vals[0]))
	}

	// Keep the right-most MaxEntries raw entries in a ring; only those can
	// be needed, and parsing is deferred until an entry is needed.
	var ring [MaxEntries]string
	n := 0
	for _, v := range vals {
		for v != "" {
			var elem string
			elem, v = nextElement(v, r.format == formatForwarded)
			if elem = trimOWS(elem); elem == "" {
				continue // empty list elements are ignored (RFC 9110 §5.6.1)
			}
			ring[n%MaxEntries] = elem
			n++
		}
	}
	if n == 0 {
		return netip.Addr{}, false
	}
	kept := min(n, MaxEntries)
	var a netip.Addr
	for i := 1; i <= kept; i++ {
		var ok bool
		a, ok = r.parseEntry(ring[(n-i)%MaxEntries])
		if !ok {
			return netip.Addr{}, false
		}
		if !r.isTrusted(a) {
			return a, true
		}
	}
	if n > MaxEntries {
		// Every kept entry is a trusted proxy and the left-most is lost.
		return netip.Addr{}, false
	}
	// Every entry is a trusted proxy: the left-most is the closest thing
	// to a client (a request that started inside the trusted network).
	return a, true
}

// parseEntry parses one list entry in the Resolver's format.
func (r *Resolver) parseEntry(elem string) (netip.Addr, bool) {
	if r.format == formatForwarded {
		v, ok := forwardedFor(elem)
		if !ok {
			return netip.Addr{}, false
		}
		return parseNode(v)
	}
	return parseXFFEntry(elem)
}

// nextElement splits s at the first comma, outside a quoted string when
// quotes is set. Only Forwarded has quoted strings: in X-Forwarded-For a
// client-written quote must not swallow the entries proxies append after
// it. In Forwarded an unterminated quote swallows the rest of s, which then
// fails to parse.
func nextElement(s string, quotes bool) (elem, rest string) {
	if !quotes {
		if i := strings.IndexByte(s, ','); i >= 0 {
			return s[:i], s[i+1:]
		}
		return s, ""
	}
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++ // quoted-pair: skip the escaped byte
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// forwardedFor returns the unquoted value of the for= parameter of one
// Forwarded element (RFC 7239 §4). Parameter names are case-insensitive; a
// repeated or missing for=, or bad syntax, is malformed.
func forwardedFor(elem string) (string, bool) {
	var value string
	found := false
	for elem != "" {
		var pair string
		pair, elem = nextPair(elem)
		if pair = trimOWS(pair); pair == "" {
			continue
		}
		name, v, ok := strings.Cut(pair, "=")
		if !ok || !isToken(name) {
			return "", false
		}
		if v, ok = parseValue(v); !ok {
			return "", false
		}
		if strings.EqualFold(name, "for") {
			if found {
				return "", false
			}
			value, found = v, true
		}
	}
	return value, found
}

// nextPair splits an element at the first semicolon outside quotes.
func nextPair(s string) (pair, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ';' && !inQuote:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// parseValue returns a token or the content of a quoted-string (RFC 9110
// §5.6.4), with quoted-pairs unescaped.
func parseValue(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	if v[0] != '"' {
		return v, isToken(v)
	}
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if !strings.ContainsAny(inner, `\"`) {
		return inner, true
	}
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch c {
		case '"':
			return "", false // unescaped quote inside
		case '\\':
			if i++; i == len(inner) {
				return "", false
			}
			c = inner[i]
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// parseNode parses a Forwarded node (RFC 7239 §6): an IPv4 address or a
// bracketed IPv6 address, each with an optional port. "unknown" and
// obfuscated identifiers ("_hidden") are not addresses.
func parseNode(v string) (netip.Addr, bool) {
	host, port := v, ""
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port = v[1:end], v[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		if port != "" && (port[0] != ':' || !isNodePort(port[1:])) {
			return netip.Addr{}, false
		}
		return a.Unmap().WithZone(""), true
	}
	if i := strings.IndexByte(v, ':'); i >= 0 {
		host, port = v[:i], v[i+1:]
		if !isNodePort(port) {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// isNodePort reports whether s is an RFC 7239 node-port: 1-5 digits or an
// obfuscated port ("_" followed by ALPHA / DIGIT / "." / "_" / "-").
func isNodePort(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '_' {
		for i := 1; i < len(s); i++ {
			c := s[i]
			if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
				return false
			}
		}
		return len(s) > 1
	}
	if len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseXFFEntry parses an address as proxies write it in X-Forwarded-For
// or single-address headers: a bare IPv4 or IPv6 address, optionally with a
// zone, or "ip:port" / "[v6]" / "[v6]:port".
func parseXFFEntry(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return a.Unmap().WithZone(""), true
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap().WithZone(""), true
}

// parseRemoteAddr parses http.Request.RemoteAddr. A bare address is
// accepted too, for servers and tests that set one.
func parseRemoteAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// trimOWS trims optional white space (space and tab) from both ends.
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
