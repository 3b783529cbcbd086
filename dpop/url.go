package dpop

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// maxURLLen bounds the htu claim and the URL a caller passes.
const maxURLLen = 2048

// normalizeURL returns the form of an http(s) URL that htu comparisons use
// (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2 and §6.2.3): scheme and host in
// lower case, the scheme's default port removed, an empty path written "/",
// percent-encodings in upper case with unreserved characters decoded, dot
// segments removed, and no query or fragment. User information is refused:
// a proof URL never carries credentials.
func normalizeURL(s string) (string, error) {
	if len(s) > maxURLLen {
		return "", errors.New("url too long")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("unparsable url")
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "https" && scheme != "http") || u.Opaque != "" || u.Host == "" {
		return "", errors.New("not an absolute http(s) url")
	}
	if u.User != nil {
		return "", errors.New("url carries user information")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" || strings.Contains(host, ":") {
		host = net.JoinHostPort(host, port)
		if port == "" { // IPv6 literal without a port: keep the brackets only
			host = strings.TrimSuffix(host, ":")
		}
	}
	path := removeDotSegments(normalizeEscapes(u.EscapedPath()))
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, nil
}

// normalizeEscapes upper-cases percent-encodings and decodes those of
// unreserved characters (RFC 3986 §2.3, §6.2.2.2). p is a valid escaped path.
func normalizeEscapes(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+2 >= len(p) {
			b.WriteByte(p[i])
			continue
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
		i += 2
	}
	return b.String()
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

func isUnreserved(c byte) bool {
	return ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// removeDotSegments applies RFC 3986 §5.2.4 to an absolute path.
func removeDotSegments(p string) string {
	if !strings.HasPrefix(p, "/") || !strings.Contains(p, "/.") {
		return p
	}
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}
