package daemon

import (
	"runtime"
	"runtime/debug"
)

// Version is onexbusd's semantic version; `make build` sets it with
// -ldflags "-X github.com/onexbus/onexbus/internal/daemon.Version=...".
var Version = "0.1.0-dev"

// Revision is the VCS commit, set by `make build` the same way
// (internal/daemon.Revision); when empty the Go build info's is used.
var Revision = ""

// BuildInfo describes the running binary.
type BuildInfo struct {
	// Version is Version.
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from, when known,
	// with "+dirty" for a modified tree.
	Revision string `json:"revision,omitempty"`
	// GoVersion is the Go toolchain.
	GoVersion string `json:"go_version"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Build returns the running binary's BuildInfo.
func Build() BuildInfo {
	b := BuildInfo{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && b.Revision != "" {
			b.Revision += "+dirty"
		}
	}
	if Revision != "" {
		b.Revision = Revision
	}
	return b
}
