package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credshield/credshield/internal/password"
)

// buildServer builds the credshield binary the simulator starts.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "credshield")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/credshield/credshield/cmd/credshield").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// testOptions is a run of a few seconds: cheap hashes, low challenge
// difficulties, a small population and a small attacker.
func testOptions(bin string) Options {
	o := DefaultOptions()
	o.Scenarios = []string{ScenarioBotnet}
	o.Users, o.Pairs = 40, 600
	o.LegitUsers, o.LegitLogins, o.LegitRate, o.QuietLogins = 10, 40, 1000, 10
	o.AttackerBudget, o.Duration = 300*time.Millisecond, 45*time.Second
	o.Argon = password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	o.InsecureWeakHash = true
	o.ServerBin, o.SolverBin = bin, bin
	o.ServerArgs = []string{"--challenge-difficulty", "2", "--challenge-attack-difficulty", "3"}
	o.BotnetSize = 300
	return o
}

func TestRunUsernameLimitVersusDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	o := testOptions(buildServer(t))
	o.WorkDir = t.TempDir()
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want username-limit and default", len(rep.Results))
	}
	if rep.HashMs == nil || rep.HashP99Ms == nil || *rep.HashMs <= 0 || *rep.HashP99Ms < *rep.HashMs/2 {
		t.Errorf("hash %v ms, p99 %v ms: want both measured", rep.HashMs, rep.HashP99Ms)
	}
	limited, def := rep.Results[0], rep.Results[1]
	if limited.Defence != DefenceUsernameLimit || def.Defence != DefenceDefault {
		t.Fatalf("defences %s, %s", limited.Defence, def.Defence)
	}
	if limited.Compromised < 1 {
		t.Errorf("username-limit: %d accounts compromised; the attacker is not real", limited.Compromised)
	}
	if def.AttackerChallengesSolved < 1 {
		t.Errorf("default: %d challenges solved; the attacker never met the defence", def.AttackerChallengesSolved)
	}
	if def.Compromised >= limited.Compromised {
		t.Errorf("default lost %d accounts, username-limit %d: want fewer at equal budget", def.Compromised, limited.Compromised)
	}
	for _, r := range rep.Results {
		if r.LegitLogins != o.LegitLogins {
			t.Errorf("%s: %d legitimate logins, want %d", r.Defence, r.LegitLogins, o.LegitLogins)
		}
		if r.QuietKnownDeviceP99Ms <= 0 || r.LegitKnownDeviceP99Ms <= 0 {
			t.Errorf("%s: known-device p99 %.1f ms, quiet baseline %.1f ms: want both measured", r.Defence, r.LegitKnownDeviceP99Ms, r.QuietKnownDeviceP99Ms)
		}
		if r.AttackerRequests < 1 || r.ServerCPUPerAttemptUS <= 0 {
			t.Errorf("%s: %d requests, %.1f µs server CPU per attempt", r.Defence, r.AttackerRequests, r.ServerCPUPerAttemptUS)
		}
	}
	if def.LegitKnownDeviceSuccess != 1 || def.LegitKnownDeviceChallenged != 0 {
		t.Errorf("default: known-device success %.3f, %d challenged; want every one accepted unchallenged",
			def.LegitKnownDeviceSuccess, def.LegitKnownDeviceChallenged)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"scenario", "defence", "compromised", "valid_pairs_tried", "attacker_requests",
		"attacker_challenges_solved", "attacker_cost_seconds", "cost_per_compromise_seconds", "rejected_before_hash_ratio",
		"server_cpu_per_attempt_us", "legit_logins", "legit_known_device_success", "legit_known_device_challenged",
		"legit_new_device_success", "legit_p50_ms", "legit_p99_ms", "legit_known_device_p99_ms", "quiet_known_device_p99_ms"} {
		if _, ok := back.Results[0][key]; !ok {
			t.Errorf("JSON result lacks %q", key)
		}
	}
	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	s := page.String()
	if strings.Count(s, "<svg") != 2*len(rep.Results) || !strings.Contains(s, "<polyline") || !strings.Contains(s, "<circle") {
		t.Error("HTML page lacks its inline charts")
	}
	for _, ref := range []string{"src=", "href=", "url(", "<script", "@import"} {
		if strings.Contains(s, ref) {
			t.Errorf("HTML page loads something (%s): it must be self-contained", ref)
		}
	}
}
