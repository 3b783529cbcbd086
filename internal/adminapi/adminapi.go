// Package adminapi is serve's admin listener: what the guard blocks now
// and lifting it (credshield guard status and unlock), behind a bearer
// token, and the client the CLI calls it with. It runs on a listener of
// its own, never the public one nor the metrics one, so a request on the
// public port can never reach it, whatever the token.
package adminapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/username"
)

// Paths of the admin API.
const (
	PathStatus = "/v1/guard/status"
	PathUnlock = "/v1/guard/unlock"
)

// minTokenLen is the shortest token accepted: 128 bits as base64.
const minTokenLen = 22

// LoadToken returns the admin token: env's value when set, else the
// contents of file. With create, a missing file is created (mode 0600)
// with 256 random bits; without, a missing token is an error naming both
// places. A token file readable by others is refused.
func LoadToken(file string, env string, envSet bool, create bool) ([]byte, error) {
	if envSet {
		t := strings.TrimSpace(env)
		if len(t) < minTokenLen {
			return nil, fmt.Errorf("admin token from the environment: want at least %d characters", minTokenLen)
		}
		return []byte(t), nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) && create {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		t := base64.RawURLEncoding.EncodeToString(raw[:])
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) { // another replica on this data dir made it first
			return LoadToken(file, env, envSet, false)
		}
		if err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		if _, err := f.WriteString(t + "\n"); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("admin token: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		return []byte(t), nil
	}
	if err != nil {
		return nil, fmt.Errorf("admin token: read %s: %w", file, err)
	}
	if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("admin token file %s: mode %v lets other users read it; chmod 600 it", file, st.Mode().Perm())
	}
	t := bytes.TrimSpace(b)
	if len(t) < minTokenLen {
		return nil, fmt.Errorf("admin token file %s: want at least %d characters", file, minTokenLen)
	}
	return t, nil
}

// Guard is what the admin API uses of the guard.
type Guard interface {
	Blocked(ctx context.Context, now time.Time, n int) ([]guard.Block, error)
	Unlock(ctx context.Context, now time.Time, sel guard.Selector) ([]string, error)
}

// Block is one blocked budget as the API reports it.
type Block struct {
	Key               string `json:"key"`
	Budget            string `json:"budget"`
	User              string `json:"user,omitempty"`
	Address           string `json:"address,omitempty"`
	RetryAfterSeconds int64  `json:"retry_after_seconds"`
}

// Status is the answer of GET PathStatus.
type Status struct {
	Blocked []Block `json:"blocked"`
}

// UnlockRequest is the body of POST PathUnlock: exactly one field.
type UnlockRequest struct {
	IP      string `json:"ip,omitempty"`
	Network string `json:"network,omitempty"`
	User    string `json:"user,omitempty"`
}

// UnlockResult is the answer of POST PathUnlock.
type UnlockResult struct {
	Unlocked []string `json:"unlocked"`
}

// maxStatus caps how many budgets one status lists.
const maxStatus = 1000

// Handler serves the admin API over g for holders of token. Every
// request is logged (method, path, peer, status; never the token).
func Handler(g Guard, token []byte, log *slog.Logger) http.Handler {
	want := sha256.Sum256(token)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathStatus, func(w http.ResponseWriter, r *http.Request) {
		n := 50
		if s := r.URL.Query().Get("limit"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 || v > maxStatus {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want 1 to %d", maxStatus))
				return
			}
			n = v
		}
		blocks, err := g.Blocked(r.Context(), time.Now(), n)
		if err != nil {
			log.Error("admin.status", "error", err.Error())
			writeError(w, http.StatusServiceUnavailable, "the guard store did not answer")
			return
		}
		out := Status{Blocked: make([]Block, 0, len(blocks))}
		for _, b := range blocks {
			out.Blocked = append(out.Blocked, Block{Key: b.Key, Budget: string(b.Reason), User: b.User, Address: b.Address,
				RetryAfterSeconds: int64((b.RetryAfter + time.Second - 1) / time.Second)})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST "+PathUnlock, func(w http.ResponseWriter, r *http.Request) {
		var req UnlockRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "body: want {\"ip\"|\"network\"|\"user\": ...}")
			return
		}
		sel, err := ParseSelector(req)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		keys, err := g.Unlock(r.Context(), time.Now(), sel)
		if err != nil {
			log.Error("admin.unlock", "error", err.Error())
			writeError(w, http.StatusServiceUnavailable, "the guard store did not answer")
			return
		}
		log.Warn("guard.unlock", "ip", req.IP, "network", req.Network, "user", sel.User, "keys", len(keys))
		writeJSON(w, http.StatusOK, UnlockResult{Unlocked: keys})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		if authorized(r, want) {
			mux.ServeHTTP(rec, r)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="credshield-admin"`)
			writeError(rec, http.StatusUnauthorized, "missing or wrong admin token")
		}
		log.Info("admin.request", "method", r.Method, "path", r.URL.Path, "peer", r.RemoteAddr, "status", rec.status)
	})
}

// authorized compares the bearer token with want (its SHA-256) in
// constant time: hashing first makes the comparison's length fixed too.
func authorized(r *http.Request, want [32]byte) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	h := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(h[:], want[:]) == 1
}

// ParseSelector turns an unlock request into a guard.Selector, normalising
// the username as logins do.
func ParseSelector(req UnlockRequest) (guard.Selector, error) {
	var sel guard.Selector
	n := 0
	if req.IP != "" {
		n++
		a, err := netip.ParseAddr(req.IP)
		if err != nil {
			return sel, fmt.Errorf("ip %q: not an address", req.IP)
		}
		sel.IP = a.Unmap()
	}
	if req.Network != "" {
		n++
		p, err := netip.ParsePrefix(req.Network)
		if err != nil {
			return sel, fmt.Errorf("network %q: not a CIDR prefix", req.Network)
		}
		sel.Network = p.Masked()
	}
	if req.User != "" {
		n++
		u, err := username.Normalize(req.User)
		if err != nil {
			return sel, fmt.Errorf("user: %w", err)
		}
		sel.User = u
	}
	if n != 1 {
		return sel, errors.New("name exactly one of ip, network or user")
	}
	return sel, nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// Client calls an admin listener.
type Client struct {
	Base  string // http://host:port
	Token []byte
	HTTP  *http.Client
}

// Status fetches up to n blocked budgets.
func (c Client) Status(ctx context.Context, n int) (Status, error) {
	var out Status
	err := c.do(ctx, http.MethodGet, PathStatus+"?limit="+strconv.Itoa(n), nil, &out)
	return out, err
}

// Unlock lifts what req names.
func (c Client) Unlock(ctx context.Context, req UnlockRequest) (UnlockResult, error) {
	var out UnlockResult
	body, err := json.Marshal(req)
	if err != nil {
		return out, err
	}
	err = c.do(ctx, http.MethodPost, PathUnlock, body, &out)
	return out, err
}

func (c Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+string(c.Token))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return fmt.Errorf("admin listener: %s: %s", resp.Status, e.Error)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}
