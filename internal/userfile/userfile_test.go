package userfile

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestParse(t *testing.T) {
	bh, err := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	if err != nil {
		t.Fatal(err)
	}
	h := string(bh)
	argon := "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	tests := []struct {
		name, file, input string
		users             []string // normalised names, in order
		errs              []string // substrings, each must appear
	}{
		{"csv with header", "u.csv", "username,hash\nAlice," + h + "\nbob," + argon + "\n", []string{"alice", "bob"}, nil},
		{"csv without header", "u.txt", "alice," + h + "\n", []string{"alice"}, nil},
		{"csv quoted", "u.csv", "\"Smith, Jo\"," + h + "\n", []string{"smith, jo"}, nil},
		{"csv BOM", "u.csv", "\ufeffusername,hash\nalice," + h + "\n", []string{"alice"}, nil},
		{"jsonl by name", "u.jsonl", `{"username":"Alice","hash":"` + h + `"}` + "\n\n" + `{"username":"bob","hash":"` + argon + `","email":"x"}`, []string{"alice", "bob"}, nil},
		{"jsonl sniffed", "export", `  {"username":"alice","hash":"` + h + `"}`, []string{"alice"}, nil},
		{"collision after normalisation", "u.csv", "alice," + h + "\nALICE," + h + "\n", nil, []string{"line 2", "collides with line 1"}},
		{"bad hash names its line", "u.csv", "alice," + h + "\nbob,plaintext\n", nil, []string{"line 2", `"bob"`}},
		{"p=0 rejected", "u.csv", "alice,$argon2id$v=19$m=65536,t=3,p=0$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\n", nil, []string{"line 1"}},
		{"bcrypt cost 31 rejected", "u.csv", "alice,$2b$31$" + h[7:] + "\n", nil, []string{"line 1"}},
		{"bad username", "u.csv", " alice," + h + "\n", nil, []string{"line 1", "white space"}},
		{"one field", "u.csv", "alice\n", nil, []string{"line 1", "want 2 fields"}},
		{"unquoted argon2 commas", "u.csv", "carol," + argon + "\n", []string{"carol"}, nil},
		{"trailing field spoils the hash", "u.csv", "alice," + h + ",x\n", nil, []string{"line 1"}},
		{"jsonl missing hash", "u.jsonl", `{"username":"alice"}`, nil, []string{"line 1", "hash"}},
		{"jsonl not json", "u.jsonl", `{"username":`, nil, []string{"line 1", "json"}},
		{"several errors reported", "u.csv", "a,x\nb,y\nc," + h + "\n", nil, []string{"line 1", "line 2"}},
		{"empty", "u.csv", "", nil, []string{"no accounts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, err := Parse(strings.NewReader(tt.input), tt.file, Auto)
			if len(tt.errs) > 0 {
				if err == nil {
					t.Fatalf("no error; users %v", users)
				}
				if users != nil {
					t.Errorf("users returned with an error: nothing may be half imported")
				}
				for _, want := range tt.errs {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				if strings.Contains(err.Error(), h[7:]) {
					t.Errorf("error echoes a hash: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range users {
				got = append(got, u.Username)
				if u.HashClass == "" || u.PasswordHash == "" {
					t.Errorf("user %+v lacks hash or class", u)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.users, ",") {
				t.Errorf("users %v, want %v", got, tt.users)
			}
		})
	}
}

func TestLineErrorUnwraps(t *testing.T) {
	_, err := Parse(strings.NewReader("alice,plaintext\n"), "u.csv", CSV)
	var le *LineError
	if !errors.As(err, &le) || le.Line != 1 {
		t.Fatalf("error %v is not a *LineError for line 1", err)
	}
}
