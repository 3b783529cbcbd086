package breach

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// errLine is wrapped by every complaint about one input line.
var errLine = errors.New("bad line")

// readHashes streams HASH:COUNT lines from r (gzip when it starts with the
// gzip magic), calling keep for every hash whose count is at least
// minCount. Empty lines are skipped; any other line that is not a 40-digit
// hex SHA-1, a colon and a decimal count is an error naming its line, so a
// file of the wrong kind (NTLM hashes, say) is refused rather than
// half-imported.
func readHashes(r io.Reader, minCount uint64, keep func(sum *[20]byte)) (lines, kept uint64, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, 0, fmt.Errorf("open gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	var sum [20]byte
	for {
		line, rerr := br.ReadSlice('\n')
		if errors.Is(rerr, bufio.ErrBufferFull) {
			return lines, kept, fmt.Errorf("line %d: %w: longer than %d bytes", lines+1, errLine, br.Size())
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return lines, kept, fmt.Errorf("line %d: %w", lines+1, rerr)
		}
		if len(line) > 0 {
			lines++
			line = bytes.TrimRight(line, "\r\n")
			if len(line) > 0 {
				count, perr := parseLine(line, &sum)
				if perr != nil {
					return lines, kept, fmt.Errorf("line %d: %w: %v", lines, errLine, perr)
				}
				if count >= minCount {
					keep(&sum)
					kept++
				}
			}
		}
		if rerr != nil {
			return lines, kept, nil
		}
	}
}

// parseLine decodes "HASH:COUNT" into sum and returns COUNT.
func parseLine(line []byte, sum *[20]byte) (uint64, error) {
	hexPart, countPart, ok := bytes.Cut(line, []byte{':'})
	if !ok {
		return 0, errors.New("want HASH:COUNT")
	}
	if len(hexPart) != 40 {
		return 0, fmt.Errorf("hash has %d hex digits, want 40 (a SHA-1 file)", len(hexPart))
	}
	for i := range sum {
		hi, ok1 := fromHex(hexPart[2*i])
		lo, ok2 := fromHex(hexPart[2*i+1])
		if !ok1 || !ok2 {
			return 0, errors.New("hash is not hexadecimal")
		}
		sum[i] = hi<<4 | lo
	}
	if len(countPart) == 0 || len(countPart) > 19 {
		return 0, errors.New("count is not a number")
	}
	var n uint64
	for _, c := range countPart {
		if c < '0' || c > '9' {
			return 0, errors.New("count is not a number")
		}
		n = n*10 + uint64(c-'0')
	}
	return n, nil
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
