package image

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// platform is the os/arch[/variant] an image is chosen for, normalised so that the
// spellings tools use for the same machine compare equal.
type platform struct{ os, arch, variant string }

func newPlatform(os, arch, variant string) platform {
	p := platform{strings.ToLower(os), strings.ToLower(arch), strings.ToLower(variant)}
	switch p.arch {
	case "x86_64", "x86-64":
		p.arch = "amd64"
	case "aarch64":
		p.arch = "arm64"
	}
	// arm64 has had one variant in practice; images say "v8" or nothing.
	if p.arch == "arm64" && p.variant == "v8" {
		p.variant = ""
	}
	return p
}

// parsePlatform reads `os/arch[/variant]`; "" means the machine crate runs on.
func parsePlatform(s string) (platform, bool) {
	if s == "" {
		return hostPlatform(), true
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return platform{}, false
	}
	parts = append(parts, "")
	return newPlatform(parts[0], parts[1], parts[2]), true
}

// hostPlatform is the platform crate was built for. Only 32-bit arm needs a variant,
// and the runtime does not export GOARM: the build settings record it (e.g. "7").
func hostPlatform() platform {
	variant := ""
	if runtime.GOARCH == "arm" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "GOARM" && s.Value != "" {
					variant = "v" + s.Value[:1]
				}
			}
		}
	}
	return newPlatform(runtime.GOOS, runtime.GOARCH, variant)
}

// matches reports whether an image built for got runs on p. A wanted platform without
// a variant takes any variant.
func (p platform) matches(got platform) bool {
	return p.os == got.os && p.arch == got.arch && (p.variant == "" || p.variant == got.variant)
}

// String is the platform for messages, quoted if it holds odd bytes: an image or an
// index names it.
func (p platform) String() string {
	s := p.os + "/" + p.arch
	if p.variant != "" {
		s += "/" + p.variant
	}
	return Printable(s)
}
