package challenge

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/v1.json")

// vector is a worked example for people writing a solver in another
// language: everything but the key is public.
type vector struct {
	Comment        string `json:"comment"`
	KeyHex         string `json:"key_hex"`
	ClientKey      string `json:"client_key"`
	Now            int64  `json:"now"`
	Token          string `json:"token"`
	TokenHex       string `json:"token_hex"`
	SaltHex        string `json:"salt_hex"`
	Password0Hex   string `json:"password_counter_0_hex"`
	Output0Hex     string `json:"output_counter_0_hex"`
	Solution       string `json:"solution"`
	OutputSolveHex string `json:"output_solution_hex"`
	Evaluations    int    `json:"evaluations_with_1_worker"`
}

// TestVector pins the wire format and the evaluation: a change to either
// breaks every solver in the wild.
func TestVector(t *testing.T) {
	nonce := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	is, err := NewIssuer(testKey, Config{Rand: bytes.NewReader(nonce)}, mustReplay(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	c := issue(t, is, t0, alice, 8)
	tok, err := decode(c.Token)
	if err != nil {
		t.Fatal(err)
	}
	p := newPuzzle(tok)
	sol, evals, err := Solve(context.Background(), c.Token, 1)
	if err != nil {
		t.Fatal(err)
	}
	counter, _ := parseSolution(sol)
	pw0 := p.password
	got := vector{
		Comment:        "credshield challenge v1; salt = SHA-256(token bytes), password = nonce || uint64be(counter), argon2id v0x13 t=1 m=1024 KiB p=1, 32-byte output; difficulty 8",
		KeyHex:         hex.EncodeToString(testKey),
		ClientKey:      string(alice),
		Now:            t0.Unix(),
		Token:          c.Token,
		TokenHex:       hex.EncodeToString(tok.raw[:]),
		SaltHex:        hex.EncodeToString(p.salt[:]),
		Password0Hex:   hex.EncodeToString(pw0[:]),
		Output0Hex:     hex.EncodeToString(p.evaluate(0)),
		Solution:       sol,
		OutputSolveHex: hex.EncodeToString(p.evaluate(counter)),
		Evaluations:    evals,
	}
	path := filepath.Join("testdata", "v1.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want vector
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("test vector changed:\n got %+v\nwant %+v", got, want)
	}
	if _, err := is.Verify(context.Background(), t0, alice, want.Token, want.Solution); err != nil {
		t.Errorf("Verify(vector): %v", err)
	}
}
