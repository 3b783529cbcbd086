package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set by scripts/release.sh with -ldflags "-X main.version=v1.2.3";
// otherwise the build info's module version is used (go install ...@v1.2.3
// stamps it; so does go build in a tagged checkout).
var version string

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the source revision it was built from",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			bi, _ := debug.ReadBuildInfo()
			fmt.Fprintln(e.stdout, versionLine(version, bi))
			return nil
		},
	}
}

// versionLine describes a build: the stamped version, else the module
// version from bi, else "dev"; then the VCS revision, its time and whether
// the tree had uncommitted changes, and the Go version, as far as bi
// knows them (bi may be nil).
func versionLine(stamped string, bi *debug.BuildInfo) string {
	v := stamped
	if v == "" && bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if v == "" {
		v = "dev"
	}
	if bi == nil {
		return "credshield " + v
	}
	var details []string
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		details = append(details, "revision "+rev)
	}
	if t := settings["vcs.time"]; t != "" {
		details = append(details, t)
	}
	if settings["vcs.modified"] == "true" {
		details = append(details, "with uncommitted changes")
	}
	if bi.GoVersion != "" {
		details = append(details, bi.GoVersion)
	}
	if len(details) == 0 {
		return "credshield " + v
	}
	return fmt.Sprintf("credshield %s (%s)", v, strings.Join(details, ", "))
}
