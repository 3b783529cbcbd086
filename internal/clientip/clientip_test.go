package clientip

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// trustedForTest are the proxies most cases trust: a private IPv4 range, a
// loopback host and an IPv6 range.
const trustedForTest = "10.0.0.0/8, 127.0.0.1, 2001:db8:ff::/48"

func mustResolver(t testing.TB, trusted, header string) *Resolver {
	t.Helper()
	ps, err := ParsePrefixes(trusted)
	if err != nil {
		t.Fatalf("ParsePrefixes(%q): %v", trusted, err)
	}
	r, err := NewResolver(ps, header)
	if err != nil {
		t.Fatalf("NewResolver: %v", err)
	}
	return r
}

// hdr builds a header from name, value pairs; a repeated name adds a line.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestClientIP(t *testing.T) {
	const proxy = "10.0.0.5:443"
	const outsider = "198.51.100.9:5555"
	longChain := strings.Repeat("10.1.1.1, ", MaxEntries) + "10.2.2.2"
	paddedXFF := strings.Repeat("1.1.1.1,", 100) + "203.0.113.7" // 100 junk entries, < 4 KiB
	tests := []struct {
		name   string
		header string // configured header; "" = X-Forwarded-For
		remote string
		h      http.Header
		want   string
	}{
		// The socket address by default.
		{"no header", "", outsider, nil, "198.51.100.9"},
		{"spoofed XFF from untrusted peer", "", outsider, hdr("X-Forwarded-For", "1.2.3.4"), "198.51.100.9"},
		{"spoofed Forwarded from untrusted peer", "Forwarded", outsider, hdr("Forwarded", "for=1.2.3.4"), "198.51.100.9"},
		{"spoofed X-Real-IP from untrusted peer", "X-Real-IP", outsider, hdr("X-Real-IP", "1.2.3.4"), "198.51.100.9"},
		{"trusted peer without header", "", proxy, nil, "10.0.0.5"},
		{"trusted peer empty header", "", proxy, hdr("X-Forwarded-For", ""), "10.0.0.5"},
		{"trusted peer blank entries only", "", proxy, hdr("X-Forwarded-For", " , ,"), "10.0.0.5"},

		// Only the configured header counts.
		{"X-Real-IP ignored when XFF configured", "", proxy, hdr("X-Real-IP", "1.2.3.4"), "10.0.0.5"},
		{"XFF ignored when X-Real-IP configured", "X-Real-IP", proxy, hdr("X-Forwarded-For", "1.2.3.4"), "10.0.0.5"},
		{"Forwarded ignored when XFF configured", "", proxy, hdr("Forwarded", "for=1.2.3.4"), "10.0.0.5"},
		{"XFF ignored when Forwarded configured", "Forwarded", proxy, hdr("X-Forwarded-For", "1.2.3.4"), "10.0.0.5"},
		{"other headers beside configured", "", proxy, hdr("X-Real-IP", "9.9.9.9", "X-Forwarded-For", "203.0.113.7", "Forwarded", "for=8.8.8.8"), "203.0.113.7"},

		// X-Forwarded-For chains.
		{"XFF single", "", proxy, hdr("X-Forwarded-For", "203.0.113.7"), "203.0.113.7"},
		{"XFF client spoof left of real", "", proxy, hdr("X-Forwarded-For", "1.2.3.4, 203.0.113.7"), "203.0.113.7"},
		{"XFF trusted hops skipped", "", proxy, hdr("X-Forwarded-For", "1.2.3.4, 203.0.113.7, 10.9.9.9, 127.0.0.1"), "203.0.113.7"},
		{"XFF all trusted uses left-most", "", proxy, hdr("X-Forwarded-For", "10.1.1.1, 10.2.2.2"), "10.1.1.1"},
		{"XFF malformed left of client not read", "", proxy, hdr("X-Forwarded-For", "garbage, 203.0.113.7"), "203.0.113.7"},
		{"XFF malformed where needed", "", proxy, hdr("X-Forwarded-For", "1.2.3.4, garbage, 10.9.9.9"), "10.0.0.5"},
		{"XFF malformed right-most", "", proxy, hdr("X-Forwarded-For", "203.0.113.7, not-an-ip"), "10.0.0.5"},
		{"XFF hostname", "", proxy, hdr("X-Forwarded-For", "example.com"), "10.0.0.5"},
		{"XFF client quote cannot swallow", "", proxy, hdr("X-Forwarded-For", `"1.2.3.4, 203.0.113.7`), "203.0.113.7"},
		{"XFF port stripped", "", proxy, hdr("X-Forwarded-For", "203.0.113.7:5678"), "203.0.113.7"},
		{"XFF empty elements ignored", "", proxy, hdr("X-Forwarded-For", "203.0.113.7,, ,"), "203.0.113.7"},
		{"XFF tabs", "", proxy, hdr("X-Forwarded-For", "\t203.0.113.7\t"), "203.0.113.7"},
		{"XFF multiple lines in order", "", proxy, hdr("X-Forwarded-For", "203.0.113.7", "X-Forwarded-For", "10.3.3.3"), "203.0.113.7"},
		{"XFF multiple lines right-most client", "", proxy, hdr("X-Forwarded-For", "1.2.3.4, 5.6.7.8", "X-Forwarded-For", "203.0.113.7, 10.3.3.3"), "203.0.113.7"},
		{"XFF lower-case name configured", "x-forwarded-for", proxy, hdr("X-Forwarded-For", "203.0.113.7"), "203.0.113.7"},

		// IPv6 and mapped addresses.
		{"XFF IPv6", "", proxy, hdr("X-Forwarded-For", "2001:db8::1"), "2001:db8::1"},
		{"XFF IPv6 brackets", "", proxy, hdr("X-Forwarded-For", "[2001:db8::1]"), "2001:db8::1"},
		{"XFF IPv6 brackets port", "", proxy, hdr("X-Forwarded-For", "[2001:db8::1]:443"), "2001:db8::1"},
		{"XFF IPv6 zone stripped", "", proxy, hdr("X-Forwarded-For", "fe80::1%eth0"), "fe80::1"},
		{"XFF mapped unmapped", "", proxy, hdr("X-Forwarded-For", "::ffff:203.0.113.7"), "203.0.113.7"},
		{"XFF mapped trusted hop skipped", "", proxy, hdr("X-Forwarded-For", "203.0.113.7, ::ffff:10.1.1.1"), "203.0.113.7"},
		{"XFF IPv6 trusted hop skipped", "", proxy, hdr("X-Forwarded-For", "2001:db8::7, 2001:db8:ff::2"), "2001:db8::7"},
		{"IPv6 trusted peer", "", "[2001:db8:ff::9]:443", hdr("X-Forwarded-For", "203.0.113.7"), "203.0.113.7"},
		{"IPv6 untrusted peer", "", "[2001:db8::9]:443", hdr("X-Forwarded-For", "203.0.113.7"), "2001:db8::9"},
		{"mapped peer unmapped and trusted", "", "[::ffff:10.0.0.5]:443", hdr("X-Forwarded-For", "203.0.113.7"), "203.0.113.7"},
		{"mapped untrusted peer unmapped", "", "[::ffff:198.51.100.9]:1", nil, "198.51.100.9"},
		{"zoned peer", "", "[fe80::1%eth0]:1", nil, "fe80::1"},
		{"bare peer address", "", "198.51.100.9", nil, "198.51.100.9"},

		// Size limits.
		{"oversized header", "", proxy, hdr("X-Forwarded-For", strings.Repeat("1", MaxHeaderBytes)+", 203.0.113.7"), "10.0.0.5"},
		{"oversized over several lines", "", proxy, hdr("X-Forwarded-For", strings.Repeat(" ", MaxHeaderBytes/2)+"1.1.1.1", "X-Forwarded-For", strings.Repeat(" ", MaxHeaderBytes/2)+"203.0.113.7"), "10.0.0.5"},
		{"many entries client at right", "", proxy, hdr("X-Forwarded-For", paddedXFF), "203.0.113.7"},
		{"too many trusted hops", "", proxy, hdr("X-Forwarded-For", longChain), "10.0.0.5"},
		{"exactly max trusted hops", "", proxy, hdr("X-Forwarded-For", strings.Repeat("10.1.1.1, ", MaxEntries-1)+"10.2.2.2"), "10.1.1.1"},

		// Forwarded (RFC 7239).
		{"Forwarded simple", "Forwarded", proxy, hdr("Forwarded", "for=203.0.113.7"), "203.0.113.7"},
		{"Forwarded case-insensitive name", "Forwarded", proxy, hdr("Forwarded", "For=203.0.113.7"), "203.0.113.7"},
		{"Forwarded quoted", "Forwarded", proxy, hdr("Forwarded", `for="203.0.113.7"`), "203.0.113.7"},
		{"Forwarded quoted port", "Forwarded", proxy, hdr("Forwarded", `for="203.0.113.7:4711"`), "203.0.113.7"},
		{"Forwarded obfuscated port", "Forwarded", proxy, hdr("Forwarded", `for="203.0.113.7:_p1"`), "203.0.113.7"},
		{"Forwarded IPv6", "Forwarded", proxy, hdr("Forwarded", `for="[2001:db8:cafe::17]:4711"`), "2001:db8:cafe::17"},
		{"Forwarded IPv6 no port", "Forwarded", proxy, hdr("Forwarded", `for="[2001:db8:cafe::17]"`), "2001:db8:cafe::17"},
		{"Forwarded IPv6 unbracketed", "Forwarded", proxy, hdr("Forwarded", `for="2001:db8:cafe::17"`), "10.0.0.5"},
		{"Forwarded IPv4 in brackets", "Forwarded", proxy, hdr("Forwarded", `for="[203.0.113.7]"`), "10.0.0.5"},
		{"Forwarded unquoted port invalid token", "Forwarded", proxy, hdr("Forwarded", `for=203.0.113.7:80`), "10.0.0.5"},
		{"Forwarded with other params", "Forwarded", proxy, hdr("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43"), "192.0.2.60"},
		{"Forwarded quoted comma and semicolon in other param", "Forwarded", proxy, hdr("Forwarded", `for=192.0.2.60;ext="a,b;c", for=10.4.4.4`), "192.0.2.60"},
		{"Forwarded escaped quote in other param", "Forwarded", proxy, hdr("Forwarded", `for=192.0.2.60;ext="x\",y"`), "192.0.2.60"},
		{"Forwarded quoted-pair in for", "Forwarded", proxy, hdr("Forwarded", `for="203.0.113.\7"`), "203.0.113.7"},
		{"Forwarded list right-most", "Forwarded", proxy, hdr("Forwarded", "for=1.2.3.4, for=203.0.113.7;proto=https, for=10.5.5.5"), "203.0.113.7"},
		{"Forwarded multiple lines", "Forwarded", proxy, hdr("Forwarded", "for=1.2.3.4", "Forwarded", "for=203.0.113.7"), "203.0.113.7"},
		{"Forwarded unknown", "Forwarded", proxy, hdr("Forwarded", "for=unknown"), "10.0.0.5"},
		{"Forwarded obfuscated node", "Forwarded", proxy, hdr("Forwarded", "for=_hidden"), "10.0.0.5"},
		{"Forwarded unknown left of client", "Forwarded", proxy, hdr("Forwarded", "for=unknown, for=203.0.113.7"), "203.0.113.7"},
		{"Forwarded element without for", "Forwarded", proxy, hdr("Forwarded", "by=203.0.113.43"), "10.0.0.5"},
		{"Forwarded duplicate for", "Forwarded", proxy, hdr("Forwarded", "for=1.2.3.4;for=203.0.113.7"), "10.0.0.5"},
		{"Forwarded unterminated quote", "Forwarded", proxy, hdr("Forwarded", `for="203.0.113.7`), "10.0.0.5"},
		{"Forwarded bad pair", "Forwarded", proxy, hdr("Forwarded", "for"), "10.0.0.5"},
		{"Forwarded all trusted", "Forwarded", proxy, hdr("Forwarded", "for=10.1.1.1, for=10.2.2.2"), "10.1.1.1"},

		// Single-address headers.
		{"X-Real-IP", "X-Real-IP", proxy, hdr("X-Real-IP", "203.0.113.7"), "203.0.113.7"},
		{"X-Real-IP trusted value still used", "X-Real-IP", proxy, hdr("X-Real-IP", "10.7.7.7"), "10.7.7.7"},
		{"X-Real-IP list rejected", "X-Real-IP", proxy, hdr("X-Real-IP", "1.2.3.4, 203.0.113.7"), "10.0.0.5"},
		{"X-Real-IP two lines rejected", "X-Real-IP", proxy, hdr("X-Real-IP", "1.2.3.4", "X-Real-IP", "203.0.113.7"), "10.0.0.5"},
		{"X-Real-IP malformed", "X-Real-IP", proxy, hdr("X-Real-IP", "nope"), "10.0.0.5"},
		{"CF-Connecting-IP IPv6", "CF-Connecting-IP", proxy, hdr("Cf-Connecting-Ip", " 2001:db8::5 "), "2001:db8::5"},
		{"True-Client-IP mapped", "True-Client-IP", proxy, hdr("True-Client-Ip", "::ffff:203.0.113.7"), "203.0.113.7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustResolver(t, trustedForTest, tc.header)
			got, err := r.ClientIP(tc.remote, tc.h)
			if err != nil {
				t.Fatalf("ClientIP: %v", err)
			}
			if want := netip.MustParseAddr(tc.want); got != want {
				t.Errorf("ClientIP(%q, %v) = %v, want %v", tc.remote, tc.h, got, want)
			}
		})
	}
}

func TestClientIPZeroValue(t *testing.T) {
	var r Resolver
	got, err := r.ClientIP("10.0.0.5:1", hdr("X-Forwarded-For", "203.0.113.7", "X-Real-IP", "1.2.3.4"))
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddr("10.0.0.5"); got != want {
		t.Errorf("zero Resolver = %v, want socket address %v", got, want)
	}
	// Trusting nobody: the header is never read.
	nobody := mustResolver(t, "", "")
	if got, _ := nobody.ClientIP("10.0.0.5:1", hdr("X-Forwarded-For", "203.0.113.7")); got != netip.MustParseAddr("10.0.0.5") {
		t.Errorf("no trusted proxies = %v, want socket address", got)
	}
}

func TestClientIPBadRemoteAddr(t *testing.T) {
	r := mustResolver(t, trustedForTest, "")
	for _, remote := range []string{"", "@", "/run/credshield.sock", "example.com:80", "1.2.3.4:port"} {
		if _, err := r.ClientIP(remote, nil); !errors.Is(err, ErrRemoteAddr) {
			t.Errorf("ClientIP(%q) error = %v, want ErrRemoteAddr", remote, err)
		}
	}
}

func TestNewResolver(t *testing.T) {
	tests := []struct {
		name       string
		trusted    []netip.Prefix
		header     string
		wantErr    error
		wantHeader string
	}{
		{"default header", nil, "", nil, "X-Forwarded-For"},
		{"canonicalised", nil, "x-real-ip", nil, "X-Real-Ip"},
		{"forwarded", nil, "forwarded", nil, "Forwarded"},
		{"space in name", nil, "X Real IP", ErrHeaderName, ""},
		{"colon in name", nil, "X-Real-IP:", ErrHeaderName, ""},
		{"invalid prefix", []netip.Prefix{{}}, "", ErrPrefix, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewResolver(tc.trusted, tc.header)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("NewResolver error = %v, want %v", err, tc.wantErr)
			}
			if err == nil && r.Header() != tc.wantHeader {
				t.Errorf("Header() = %q, want %q", r.Header(), tc.wantHeader)
			}
		})
	}
}

func TestNewResolverMappedPrefix(t *testing.T) {
	// A mapped prefix must match the unmapped addresses ClientIP compares.
	r, err := NewResolver([]netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}, "")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.ClientIP("10.0.0.5:1", hdr("X-Forwarded-For", "203.0.113.7"))
	if got != netip.MustParseAddr("203.0.113.7") {
		t.Errorf("mapped trusted prefix not applied: got %v", got)
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in      string
		want    string // prefixes joined by " "
		wantErr bool
	}{
		{"", "", false},
		{"10.0.0.0/8,127.0.0.1", "10.0.0.0/8 127.0.0.1/32", false},
		{" 10.0.0.0/8 , ,2001:db8::1 ,", "10.0.0.0/8 2001:db8::1/128", false},
		{"2001:db8::/32", "2001:db8::/32", false},
		{"::ffff:10.1.2.3", "10.1.2.3/32", false},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", false},
		{"10.1.2.3/8", "", true},
		{"10.0.0.0/33", "", true},
		{"example.com", "", true},
		{"fe80::1%eth0", "", true},
		{"10.0.0.0/8,nope", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			ps, err := ParsePrefixes(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrPrefix) {
					t.Fatalf("ParsePrefixes(%q) error = %v, want ErrPrefix", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrefixes(%q): %v", tc.in, err)
			}
			var parts []string
			for _, p := range ps {
				parts = append(parts, p.String())
			}
			if got := strings.Join(parts, " "); got != tc.want {
				t.Errorf("ParsePrefixes(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParsePrefixesErrorNamesItem(t *testing.T) {
	_, err := ParsePrefixes("10.0.0.0/8, 10.1.2.3/8")
	if err == nil || !strings.Contains(err.Error(), `"10.1.2.3/8"`) || !strings.Contains(err.Error(), "10.0.0.0/8?") {
		t.Errorf("error %v should name the item and suggest the masked prefix", err)
	}
}

// FuzzClientIP checks that no header makes ClientIP panic, return an error
// for a valid peer, or return something other than the peer when the peer
// is untrusted; and that results are always unmapped and zone-free.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{
		"203.0.113.7", "1.2.3.4, 10.0.0.1", `for="[2001:db8::1]:80"`, `for=x;ext="a,\"b"`,
		"::ffff:1.2.3.4", "[::1]:80", `"`, ",,,", "for=unknown",
	} {
		f.Add(s, "X-Forwarded-For")
		f.Add(s, "Forwarded")
		f.Add(s, "X-Real-IP")
	}
	f.Fuzz(func(t *testing.T, value, header string) {
		r, err := NewResolver([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, header)
		if err != nil {
			return
		}
		h := http.Header{}
		h.Set(r.Header(), value)
		got, err := r.ClientIP("10.0.0.5:1", h)
		if err != nil {
			t.Fatalf("trusted peer: %v", err)
		}
		if got.Is4In6() || got.Zone() != "" || !got.IsValid() {
			t.Fatalf("result %v not normalised", got)
		}
		got, _ = r.ClientIP("198.51.100.9:1", h)
		if got != netip.MustParseAddr("198.51.100.9") {
			t.Fatalf("untrusted peer: got %v", got)
		}
	})
}

func BenchmarkClientIP(b *testing.B) {
	r := mustResolver(b, trustedForTest, "")
	h := hdr("X-Forwarded-For", "1.2.3.4, 203.0.113.7, 10.9.9.9")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ClientIP("10.0.0.5:443", h); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPeerTrusted: the one "is the peer a trusted proxy" rule, with
// IPv4-mapped IPv6 peers and prefixes comparing as the IPv4 they map, and
// ClientIP believing the header from exactly the same peers.
func TestPeerTrusted(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		peer    string
		want    bool
	}{
		{"IPv4 peer, IPv4 prefix", "127.0.0.0/8", "127.0.0.1:1234", true},
		{"mapped peer, IPv4 prefix", "127.0.0.0/8", "[::ffff:127.0.0.1]:1234", true},
		{"IPv4 peer, mapped prefix", "::ffff:127.0.0.0/104", "127.0.0.1:1234", true},
		{"mapped peer, mapped prefix", "::ffff:127.0.0.1/128", "[::ffff:127.0.0.1]:1234", true},
		{"mapped peer outside", "127.0.0.0/8", "[::ffff:192.0.2.1]:1234", false},
		{"IPv6 peer", "::1/128", "[::1]:1234", true},
		{"IPv6 peer with zone", "fe80::/10", "[fe80::1%eth0]:1234", true},
		{"bare address", "127.0.0.0/8", "127.0.0.1", true},
		{"not an IP", "127.0.0.0/8", "@unix", false},
		{"no trusted proxies", "", "[::ffff:127.0.0.1]:1234", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustResolver(t, tt.trusted, "")
			if got := r.PeerTrusted(tt.peer); got != tt.want {
				t.Errorf("PeerTrusted(%q) with %q = %v, want %v", tt.peer, tt.trusted, got, tt.want)
			}
			ip, err := r.ClientIP(tt.peer, hdr("X-Forwarded-For", "203.0.113.7"))
			believed := err == nil && ip == netip.MustParseAddr("203.0.113.7")
			if believed != tt.want {
				t.Errorf("ClientIP believed the header: %v (%v, %v); PeerTrusted says %v", believed, ip, err, tt.want)
			}
		})
	}
	var zero Resolver
	if zero.PeerTrusted("127.0.0.1:1") {
		t.Error("the zero Resolver trusts a peer")
	}
}
