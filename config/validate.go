package config

import (
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/fmspush/fmspush/redact"
)

const emulatorScheme = "emulator://"

func isEmulatorURL(spec string) bool {
	return len(spec) >= len(emulatorScheme) && strings.EqualFold(spec[:len(emulatorScheme)], emulatorScheme)
}

// listenAddr decodes an optional host:port attribute.
func listenAddr(s scope, a *hcl.Attribute, def string) string {
	v := s.str(a, def)
	if a == nil || v == def {
		return v
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || strings.ContainsAny(host, " /") || !validPort(port) {
		s.fail(a, "%q is not a listen address: want HOST:PORT such as %q", v, def)
		return def
	}
	return v
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

// source validates a stream's source and returns it with its kind.
func source(s scope, a *hcl.Attribute, block hcl.Range) (string, SourceKind) {
	if a == nil {
		s.failAt(block, "source", "missing: every stream needs a source (rtsp://, rtsps://, rtmp://, rtmps://, file:PATH or builtin:sample)")
		return "", ""
	}
	spec, ok := s.strOK(a, "")
	if !ok {
		return "", ""
	}
	kind, msg := sourceKind(spec)
	if msg != "" {
		s.fail(a, "%s", msg)
		return "", ""
	}
	return spec, kind
}

// sourceKind classifies spec, or says what is wrong with it.
func sourceKind(spec string) (SourceKind, string) {
	scheme, rest, ok := strings.Cut(spec, ":")
	switch kind := SourceKind(strings.ToLower(scheme)); {
	case spec == "":
		return "", "must not be empty"
	case !ok:
		return "", "has no scheme: want rtsp://, rtsps://, rtmp://, rtmps://, file:PATH or builtin:sample"
	case kind == SourceBuiltin:
		return builtinSource(rest)
	case kind == SourceFile:
		return fileSource(rest)
	case kind == SourceRTSP || kind == SourceRTSPS || kind == SourceRTMP || kind == SourceRTMPS:
		return networkSource(kind, spec)
	}
	return "", "unsupported scheme: want rtsp://, rtsps://, rtmp://, rtmps://, file:PATH or builtin:sample"
}

func builtinSource(name string) (SourceKind, string) {
	if name != "sample" {
		return "", "unknown builtin source: the only one is builtin:sample"
	}
	return SourceBuiltin, ""
}

func fileSource(path string) (SourceKind, string) {
	if path == "" || (strings.HasPrefix(path, "//") && !strings.HasPrefix(path, "///")) {
		return "", "file: takes a path: file:/abs/path.flv, file:rel/path.mp4 or file:///abs/path.flv"
	}
	return SourceFile, ""
}

// urlProblem is url.Parse's reason without the URL it quotes.
func urlProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var esc url.EscapeError
	if errors.As(err, &esc) {
		return "a bad %-escape" // the escape quoted could be part of a password
	}
	return err.Error()
}

func networkSource(kind SourceKind, spec string) (SourceKind, string) {
	u, err := url.Parse(spec)
	switch {
	case err != nil:
		// The text is never echoed: a URL that does not parse cannot be
		// masked by its structure (a password holding '/' is not userinfo).
		return "", "is not a valid URL (" + urlProblem(err) + "); it is not shown because it may hold a password"
	case !strings.HasPrefix(spec[len(kind):], "://") || u.Host == "":
		return "", "has no host: want " + string(kind) + "://HOST[:PORT]/PATH, got " + redact.URL(spec)
	case u.Port() != "" && !validPort(u.Port()):
		return "", "has a bad port: " + redact.URL(spec)
	}
	return kind, ""
}

// target validates and resolves a target (or probe target) spec. Its text is
// never echoed: the key may sit anywhere in a malformed URL.
func target(s scope, a *hcl.Attribute, spec string, hasApp bool, emu *Emulator) string {
	if a == nil {
		return ""
	}
	resolved, msg := resolveTarget(spec, hasApp, emu)
	if msg != "" {
		s.fail(a, "%s", msg)
	}
	return resolved
}

// resolveTarget returns the URL to dial for spec, or what is wrong with it.
func resolveTarget(spec string, hasApp bool, emu *Emulator) (string, string) {
	if spec == "" {
		return "", "must not be empty"
	}
	if isEmulatorURL(spec) {
		return emulatorTarget(spec, emu)
	}
	if msg := checkRTMPURL(spec, hasApp); msg != "" {
		if strings.HasPrefix(msg, "unsupported scheme") {
			msg += ", or emulator://APP/NAME for the builtin emulator"
		}
		return "", msg
	}
	return spec, ""
}

func emulatorTarget(spec string, emu *Emulator) (string, string) {
	rest := spec[len(emulatorScheme):]
	app, name, _ := strings.Cut(rest, "/")
	switch {
	case app == "" || name == "":
		return "", "emulator target needs an app and a name: emulator://APP/NAME"
	case emu == nil:
		return "", "emulator:// target needs an emulator block (the builtin emulator is not started)"
	}
	return "rtmp://" + emu.Listen + "/" + rest, ""
}

// checkRTMPURL says what is wrong with an rtmp:// or rtmps:// URL, if anything.
func checkRTMPURL(spec string, hasApp bool) string {
	u, err := url.Parse(spec)
	switch {
	case err != nil:
		return "is not a valid URL"
	case !strings.EqualFold(u.Scheme, "rtmp") && !strings.EqualFold(u.Scheme, "rtmps"):
		return "unsupported scheme: want rtmp:// or rtmps://"
	case u.Host == "" || u.Opaque != "":
		return "has no host: want rtmp:// or rtmps://, then HOST[:PORT]/APP/KEY"
	case u.Port() != "" && !validPort(u.Port()):
		return "has a bad port"
	case strings.Trim(u.Path, "/") == "" && !hasApp:
		return "has no app: want /APP/KEY after the host (or set rtmp.app)"
	}
	return ""
}

// tcURL validates the optional rtmp.tc_url override.
func tcURL(s scope, a *hcl.Attribute) string {
	v := s.str(a, "")
	if a == nil || v == "" {
		return v
	}
	if msg := checkRTMPURL(v, true); msg != "" {
		s.fail(a, "%s", msg)
		return ""
	}
	return v
}

// MaxAPITokenSize bounds the api_token_file.
const MaxAPITokenSize = 4096

// MinAPIToken is the shortest token accepted: a guessable token is no lock.
const MinAPIToken = 16

// apiToken reads the control API's token file named by a (read now, so
// that a missing or empty file fails the load with its position); the
// error never quotes the token.
func apiToken(s scope, a *hcl.Attribute) (file, token string) {
	file = s.str(a, "")
	if a == nil || file == "" {
		return "", ""
	}
	f, err := os.Open(file)
	if err != nil {
		s.fail(a, "cannot read the token file: %v", err)
		return file, ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxAPITokenSize+1))
	switch {
	case err != nil:
		s.fail(a, "cannot read the token file: %v", err)
		return file, ""
	case len(b) > MaxAPITokenSize:
		s.fail(a, "the token file is larger than %d bytes", MaxAPITokenSize)
		return file, ""
	}
	token = strings.TrimSpace(string(b))
	if len(token) < MinAPIToken || strings.ContainsAny(token, " \t\r\n") {
		s.fail(a, "the token file must hold one token of at least %d characters, no spaces", MinAPIToken)
		return file, ""
	}
	return file, token
}
