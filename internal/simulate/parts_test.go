package simulate

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseServing(t *testing.T) {
	tests := []struct {
		line, want string
		ok         bool
	}{
		{"credshield is serving http://127.0.0.1:43127 on 127.0.0.1:43127 — add a user with: credshield user add NAME --data-dir x", "http://127.0.0.1:43127", true},
		{"credshield is serving http://[::1]:8080 on [::1]:8080 — ...", "http://[::1]:8080", true},
		{"credshield is serving https://login.example.com on 0.0.0.0:443 — ...", "", false},
		{"listening", "", false},
	}
	for _, tt := range tests {
		got, err := parseServing(tt.line)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseServing(%q) = %q, %v; want %q, ok %v", tt.line, got, err, tt.want, tt.ok)
		}
	}
}

func TestCheckLoopbackURL(t *testing.T) {
	tests := []struct {
		raw string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080/", true},
		{"https://[::1]:8443", true},
		{"http://127.9.9.9", true},
		{"http://10.0.0.1:8080", false},
		{"http://example.com", false},
		{"http://localhost.example.com", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
	}
	for _, tt := range tests {
		if _, err := checkLoopbackURL(tt.raw); (err == nil) != tt.ok {
			t.Errorf("checkLoopbackURL(%q): %v, want ok %v", tt.raw, err, tt.ok)
		}
	}
}

func TestAttackerAddresses(t *testing.T) {
	tests := []struct {
		scenario      string
		n, want, nets int // nets: distinct /16s (botnet) or /24s
	}{
		{ScenarioSingleIP, 10, 1, 1},
		{ScenarioSubnet, 10, 256, 1},
		{ScenarioBotnet, 10000, 10000, 10000},
		{ScenarioLowAndSlow, 500, 500, 500},
	}
	for _, tt := range tests {
		addrs, err := attackerAddresses(tt.scenario, tt.n, 7)
		if err != nil {
			t.Fatal(err)
		}
		bits := 24
		if tt.scenario == ScenarioBotnet || tt.scenario == ScenarioLowAndSlow {
			bits = 16
		}
		nets := map[netip.Prefix]bool{}
		for _, a := range addrs {
			ip := netip.MustParseAddr(a)
			if netip.MustParsePrefix("100.64.0.0/10").Contains(ip) || netip.MustParsePrefix("198.18.0.0/15").Contains(ip) || ip.IsPrivate() {
				t.Errorf("%s: attacker address %s overlaps the legitimate users' ranges", tt.scenario, a)
			}
			nets[netip.PrefixFrom(ip, bits).Masked()] = true
		}
		if len(addrs) != tt.want || len(nets) != tt.nets {
			t.Errorf("%s: %d addresses in %d /%d networks, want %d in %d", tt.scenario, len(addrs), len(nets), bits, tt.want, tt.nets)
		}
	}
	if _, err := attackerAddresses("ddos", 1, 1); err == nil {
		t.Error("unknown scenario accepted")
	}
}

func TestNewPopulation(t *testing.T) {
	p, err := NewPopulation(3, 100, 10000)
	if err != nil {
		t.Fatal(err)
	}
	valid, known, unknown := 0, 0, 0
	names := map[string]int{}
	for i, u := range p.Usernames {
		names[u] = i
	}
	for _, c := range p.Combo {
		i, ok := names[c.Username]
		switch {
		case c.Valid:
			valid++
			if !ok || p.Passwords[i] != c.Password {
				t.Errorf("valid pair %s is not an account's password", c.Username)
			}
		case ok:
			known++
			if p.Passwords[i] == c.Password {
				t.Errorf("wrong-password pair %s has the real password", c.Username)
			}
		default:
			unknown++
		}
	}
	if valid != 100 || known != 3000 || unknown != 6900 {
		t.Errorf("valid %d, known %d, unknown %d; want 1%%, 30%%, 69%% of 10000", valid, known, unknown)
	}
	q, _ := NewPopulation(3, 100, 10000)
	if q.Combo[0] != p.Combo[0] || q.Passwords[5] != p.Passwords[5] {
		t.Error("the same seed drew a different population")
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct{ p, want float64 }{{0.5, 5}, {0.99, 10}, {0.1, 1}, {0, 1}}
	for _, tt := range tests {
		if got := percentile(v, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestProcessCPU(t *testing.T) {
	d, err := processCPU(os.Getpid())
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if d < 0 {
		t.Errorf("cpu %v", d)
	}
	if _, err := processCPU(-1); err == nil {
		t.Error("a missing process has CPU time")
	}
}

// TestReportHashNotMeasured: with --target no population hash is timed
// here; the report said "argon2id hash 0.0 ms", which reads as a
// measurement. It says "not measured", and the JSON holds null.
func TestReportHashNotMeasured(t *testing.T) {
	mean, p99 := 41.25, 60.5
	for _, tc := range []struct {
		name     string
		rep      Report
		text     string
		jsonHash string
	}{
		{"target", Report{}, "argon2id hash not measured;", `"hash_ms":null`},
		{"measured", Report{HashMs: &mean, HashP99Ms: &p99}, "argon2id hash 41.2 ms (p99 60.5 ms);", `"hash_ms":41.25`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var text, page, js strings.Builder
			if err := tc.rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), tc.text) {
				t.Errorf("text lacks %q:\n%s", tc.text, text.String())
			}
			if err := tc.rep.WriteHTML(&page); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(page.String(), "0.0 ms") {
				t.Error("HTML reports a hash time of 0.0 ms")
			}
			if err := tc.rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if compact := strings.Join(strings.Fields(js.String()), ""); !strings.Contains(compact, tc.jsonHash) {
				t.Errorf("JSON lacks %s: %s", tc.jsonHash, compact)
			}
		})
	}
}

// TestAttackStatus: the status line's numbers — attempts, compromised,
// budget spent — and an ETA from whichever bound ends the attack first.
func TestAttackStatus(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &attack{cal: Calibration{NsPerRequest: float64(time.Millisecond)}, budget: 10 * time.Second,
		duration: time.Hour, total: 1000, start: start, compromised: map[string]bool{"u1": true, "u2": true}}
	a.next.Store(250)    // a quarter of the list
	a.requests.Store(50) // 50 ms of a 10 s budget
	st := a.status(start.Add(10*time.Second), ScenarioBotnet, DefenceDefault)
	want := Status{Scenario: ScenarioBotnet, Defence: DefenceDefault, Attempts: 250, Pairs: 1000, Compromised: 2,
		Spent: 50 * time.Millisecond, Budget: 10 * time.Second, Elapsed: 10 * time.Second, ETA: 30 * time.Second}
	if st != want {
		t.Errorf("status\n got %+v\nwant %+v", st, want)
	}
	a.next.Store(1010) // workers overshoot the list by one each
	if st := a.status(start.Add(20*time.Second), ScenarioBotnet, DefenceDefault); st.Attempts != 1000 || st.ETA != 0 {
		t.Errorf("at the end of the list: %d attempts, ETA %v; want 1000 and 0", st.Attempts, st.ETA)
	}
	fresh := &attack{budget: time.Second, duration: time.Hour, total: 10, start: start, compromised: map[string]bool{}}
	if st := fresh.status(start, ScenarioBotnet, DefenceDefault); st.ETA != 0 {
		t.Errorf("nothing done yet: ETA %v, want 0 (unknown)", st.ETA)
	}
}
