// Package userfile reads the account files that `credshield user import`
// takes: CSV or JSONL lines of a username and an existing password hash.
// Every line is checked — the name normalised, the hash parsed and its cost
// bounded — before anything is returned, so an import is all or nothing and
// each problem names its line.
package userfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/credshield/credshield/internal/password"
	"github.com/credshield/credshield/internal/store"
	"github.com/credshield/credshield/internal/username"
)

// maxLine caps one line, so a file of garbage cannot make the reader buffer
// gigabytes.
const maxLine = 64 << 10

// Format is the encoding of an account file.
type Format int

// Formats accepted by Parse.
const (
	Auto Format = iota // JSONL when the name ends .jsonl/.ndjson or the first line starts with '{', else CSV
	CSV
	JSONL
)

// LineError is a problem on one line of the input. Line counts from 1.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Parse reads every account in r. name is the file name, used only to pick
// the format when f is Auto. It returns all problems found (up to a limit),
// each a *LineError, joined; on any problem it returns no accounts.
func Parse(r io.Reader, name string, f Format) ([]store.NewUser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if f == Auto {
		f = detect(br, name)
	}
	var (
		users []store.NewUser
		errs  []error
		seen  = make(map[string]int) // normalised name -> line
	)
	add := func(line int, rawName, hash string) {
		if len(errs) >= 20 {
			return
		}
		name, err := username.Normalize(rawName)
		if err != nil {
			errs = append(errs, &LineError{line, fmt.Errorf("username %s: %w", quote(rawName), err)})
			return
		}
		if prev, dup := seen[name]; dup {
			errs = append(errs, &LineError{line, fmt.Errorf("username %s collides with line %d after normalisation (%q)", quote(rawName), prev, name)})
			return
		}
		seen[name] = line
		class, err := password.Check(hash)
		if err != nil {
			errs = append(errs, &LineError{line, fmt.Errorf("hash of %q: %w", name, err)})
			return
		}
		users = append(users, store.NewUser{Username: name, PasswordHash: hash, HashClass: class})
	}
	var err error
	switch f {
	case JSONL:
		err = readJSONL(br, add)
	default:
		err = readCSV(br, add)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(users) == 0 {
		return nil, errors.New("no accounts in file")
	}
	return users, nil
}

func detect(br *bufio.Reader, name string) Format {
	lower := strings.ToLower(name)
	if strings.HasSuffix(lower, ".jsonl") || strings.HasSuffix(lower, ".ndjson") {
		return JSONL
	}
	if strings.HasSuffix(lower, ".csv") {
		return CSV
	}
	head, _ := br.Peek(512)
	if t := bytes.TrimLeft(head, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
		return JSONL
	}
	return CSV
}

func readCSV(r io.Reader, add func(line int, name, hash string)) error {
	cr := csv.NewReader(io.LimitReader(r, 1<<30))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return &LineError{line, fmt.Errorf("csv: %w", err)}
		}
		if len(rec) < 2 {
			return &LineError{line, fmt.Errorf("want 2 fields (username,hash), got %d", len(rec))}
		}
		name := strings.TrimPrefix(rec[0], "\ufeff")
		// PHC strings hold commas ("m=65536,t=3,p=4") and exporters rarely
		// quote them: everything after the first field is the hash.
		hash := strings.Join(rec[1:], ",")
		if first && strings.EqualFold(name, "username") && strings.EqualFold(hash, "hash") {
			first = false
			continue
		}
		first = false
		add(line, name, hash)
	}
}

func readJSONL(r *bufio.Reader, add func(line int, name, hash string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff"))
		}
		if len(b) == 0 {
			continue
		}
		var rec struct {
			Username *string `json:"username"`
			Hash     *string `json:"hash"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return &LineError{line, fmt.Errorf("json: %w", err)}
		}
		if rec.Username == nil || rec.Hash == nil {
			return &LineError{line, errors.New(`want {"username": ..., "hash": ...}`)}
		}
		add(line, *rec.Username, *rec.Hash)
	}
	if err := sc.Err(); err != nil {
		return &LineError{line + 1, err}
	}
	return nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}
