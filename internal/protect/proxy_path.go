package protect

import (
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxCanonicalRounds bounds canonicalPath's rounds. A round that changes
// the path peels one layer of encoding; no framework decodes a path more
// than twice, so a path still changing after this many rounds is made to
// look odd on purpose.
const maxCanonicalRounds = 8

// canonicalPath folds an escaped request path (r.URL.EscapedPath()) to the
// one form the proxy compares login paths in. It exists because the proxy
// must see every spelling that some framework behind it could route to
// its login: the upstream's router, not ours, decides what a path means,
// and routers differ. So the fold is the union of what common routers
// forgive, and more rather than less — a folded spelling is never
// forwarded as a login (see Proxy.loginMatch), so folding too much costs
// at most a 400 on a strange path, while folding too little is an
// unguarded login. One round does, in order:
//
//   - percent-decoding, once, of every valid %XX, and of IIS's %uXXXX;
//     the rounds repeat until nothing changes, so double encoding (%252e)
//     is undone too, since some stacks decode twice;
//   - Unicode NFKC (full-width ｔｏｋｅｎ, ／ and ％ become ASCII: some
//     stacks map them "best fit") and a full case fold, upper then lower
//     (/TOKEN; ſ, ı and the Kelvin sign fold to s, i and k);
//   - a backslash is a slash (IIS, Windows-hosted and some Java servers);
//   - '#' and '?' end the path: a decoded %23 or %3F is where a framework
//     that decodes before splitting sees the fragment or query start;
//   - in every segment, ';' and what follows are dropped (servlet and
//     JAX-RS path parameters, /token;jsessionid=1, /api;x/token, /token;);
//     then spaces and control characters (tab, NUL, ...) are trimmed from
//     both ends and dots from the end (Windows and IIS ignore trailing dots
//     and spaces: /token. /token.. /token%20 /token%00);
//   - a segment of dots alone is a dot segment: "." and ".." as they are;
//     any other segment of dots, spaces and control characters alone
//     ("...", ". .") makes the whole path ambiguous (some stacks read it
//     as "..", others trim it away);
//   - in the last segment, a format suffix is dropped: everything from the
//     first dot after its first character (Rails' /token.json, Spring's
//     suffix patterns /token.anything);
//   - path.Clean: // and dot segments folded, no trailing slash.
//
// Rounds repeat until the path stops changing, so the result is a fixed
// point: canonicalPath of a settled result is itself. ok is false when the
// path has not settled after maxCanonicalRounds, or has an ambiguous
// segment; the caller must then treat it as a spelling of every login
// path. Not folded, because no router we know of ignores them: a trailing
// '~' (8.3 short names need "~1" and a file system behind the router), and
// a leading dot (/.token).
func canonicalPath(escaped string) (canonical string, ok bool) {
	if plainPath(escaped) {
		return strings.ToLower(escaped), true
	}
	return foldPath(escaped)
}

// plainPath reports a path that folding would only lower-case: ASCII
// letters, digits, '-', '_' and single slashes, absolute, no trailing
// slash. Most pass-through requests are such paths, and skip foldPath's
// allocations (FuzzCanonicalPath checks that both agree).
func plainPath(p string) bool {
	if p == "" || p[0] != '/' || (len(p) > 1 && p[len(p)-1] == '/') {
		return false
	}
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '/' && p[i-1] != '/':
		default:
			return false
		}
	}
	return true
}

// foldPath is canonicalPath without the shortcut for plain paths.
func foldPath(escaped string) (canonical string, ok bool) {
	p := escaped
	for range maxCanonicalRounds {
		next, ambiguous := canonicalRound(p)
		if ambiguous {
			return next, false
		}
		if next == p {
			return p, true
		}
		p = next
	}
	return p, false
}

// canonicalRound is one round of canonicalPath; ambiguous reports a
// segment of three or more dots.
func canonicalRound(p string) (string, bool) {
	p = percentDecodeLenient(p)
	p = norm.NFKC.String(p)
	p = strings.ToLower(strings.ToUpper(p))
	p = strings.ReplaceAll(p, `\`, "/")
	if i := strings.IndexAny(p, "#?"); i >= 0 {
		p = p[:i]
	}
	segs := strings.Split(p, "/")
	last := -1
	for i, seg := range segs {
		seg, _, _ = strings.Cut(seg, ";")
		seg = strings.TrimFunc(seg, isPathJunk)
		if strings.Contains(seg, ".") && strings.TrimFunc(seg, isDotOrJunk) == "" {
			if seg != "." && seg != ".." {
				return p, true
			}
			segs[i] = seg
			continue
		}
		seg = strings.TrimRightFunc(seg, isDotOrJunk)
		segs[i] = seg
		if seg != "" {
			last = i
		}
	}
	if last >= 0 {
		if i := strings.IndexByte(segs[last][1:], '.'); i >= 0 {
			segs[last] = strings.TrimRightFunc(segs[last][:i+1], isPathJunk)
		}
	}
	return path.Clean("/" + strings.Join(segs, "/")), false
}

// isPathJunk reports the characters trimmed from segment ends: spaces and
// control characters, which some servers drop (and NUL, which C-based ones
// read as the end of the string).
func isPathJunk(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
}

func isDotOrJunk(r rune) bool { return r == '.' || isPathJunk(r) }

// percentDecodeLenient decodes every valid %XX and %uXXXX in s once,
// leaving any other '%' as it is (url.PathUnescape would give up on the
// whole path, and a lenient server would not).
func percentDecodeLenient(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		if i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			if v, err := strconv.ParseUint(s[i+2:i+6], 16, 32); err == nil {
				b.WriteRune(rune(v))
				i += 5
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}
