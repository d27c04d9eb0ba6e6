package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// makeInstall runs `make install` of the repository into destdir, with the
// binary built to bin (the Makefile's build step), and returns its output.
func makeInstall(t *testing.T, destdir, bin string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "-C", "../..", "--no-print-directory", "install", "DESTDIR="+destdir, "BIN="+bin)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make install:\n%s", out)
	return string(out)
}

// TestMakeInstallLayout installs into a staging root without root rights:
// the binary, the unit, the sysusers entry and the config, which a second
// install keeps as the operator left it.
func TestMakeInstallLayout(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(t.TempDir(), "fmspush")
	out := makeInstall(t, root, bin)
	require.Contains(t, out, "wrote /etc/fmspush/config.hcl")

	fi, err := os.Stat(filepath.Join(root, "usr/local/bin/fmspush"))
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&0o111, "the binary is not executable")
	v, err := exec.Command(filepath.Join(root, "usr/local/bin/fmspush"), "version").Output()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(v), "fmspush "), "%q", v)

	unit, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/fmspush.service"))
	require.NoError(t, err)
	for _, line := range []string{
		"Type=notify",
		"ExecStart=/usr/local/bin/fmspush run -config /etc/fmspush/config.hcl",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"Restart=on-failure",
		"User=fmspush",
		"ProtectSystem=strict",
		"CapabilityBoundingSet=",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"CacheDirectory=fmspush",
		"Environment=XDG_CACHE_HOME=%C",
	} {
		require.Contains(t, strings.Split(string(unit), "\n"), line, "unit line")
	}
	require.NotRegexp(t, `@[A-Z]+@`, string(unit), "a placeholder left in the unit")
	require.Regexp(t, `(?m)^WatchdogSec=\d+s$`, string(unit))

	sysusers, err := os.ReadFile(filepath.Join(root, "usr/local/lib/sysusers.d/fmspush.conf"))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^u fmspush `, string(sysusers))

	cfgPath := filepath.Join(root, "etc/fmspush/config.hcl")
	cfg, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	orig, err := os.ReadFile("../../config.hcl")
	require.NoError(t, err)
	require.Equal(t, string(orig), string(cfg))
	fi, err = os.Stat(cfgPath)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "the config holds stream keys")

	// The operator's config survives a second install.
	mine := "# the operator's own\n" + string(orig)
	require.NoError(t, os.WriteFile(cfgPath, []byte(mine), 0o640))
	out = makeInstall(t, root, bin)
	require.Contains(t, out, "kept the existing /etc/fmspush/config.hcl")
	cfg, err = os.ReadFile(cfgPath)
	require.NoError(t, err)
	require.Equal(t, mine, string(cfg), "make install overwrote the operator's config")

	// make uninstall removes what install put, except the config.
	un := exec.Command("make", "-C", "../..", "--no-print-directory", "uninstall", "DESTDIR="+root, "BIN="+bin)
	o, err := un.CombinedOutput()
	require.NoError(t, err, "make uninstall:\n%s", o)
	for _, p := range []string{"usr/local/bin/fmspush", "etc/systemd/system/fmspush.service", "usr/local/lib/sysusers.d/fmspush.conf"} {
		require.NoFileExists(t, filepath.Join(root, p))
	}
	require.FileExists(t, cfgPath)
}

// TestInstalledUnitVerifies runs `systemd-analyze verify` on the unit that
// `make install` wrote. verify wants ExecStart's binary to exist, so it is
// pointed at the installed tree: a copy of the unit whose ExecStart is the
// staged binary, otherwise byte for byte what was installed.
func TestInstalledUnitVerifies(t *testing.T) {
	testpeer.Need(t, "systemd-analyze")
	root := t.TempDir()
	makeInstall(t, root, filepath.Join(t.TempDir(), "fmspush"))
	unit, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/fmspush.service"))
	require.NoError(t, err)
	staged := filepath.Join(root, "usr/local/bin/fmspush")
	text := strings.Replace(string(unit), "ExecStart=/usr/local/bin/fmspush ", "ExecStart="+staged+" ", 1)
	require.NotEqual(t, string(unit), text, "no ExecStart=/usr/local/bin/fmspush in the unit")
	dir := filepath.Join(t.TempDir(), "verify")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "fmspush.service")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warns")

	// The sysusers.d entry makes the unit's User= and Group=: a dry run
	// against an empty root (nothing is written).
	if _, err := exec.LookPath("systemd-sysusers"); err == nil {
		empty := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(empty, "etc"), 0o755))
		out, err := exec.Command("systemd-sysusers", "--root="+empty, "--dry-run",
			filepath.Join(root, "usr/local/lib/sysusers.d/fmspush.conf")).CombinedOutput()
		require.NoError(t, err, "systemd-sysusers:\n%s", out)
		require.Contains(t, string(out), "Creating user 'fmspush'")
		require.Contains(t, string(out), "Creating group 'fmspush'")
	}
}
