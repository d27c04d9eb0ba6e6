package supervisor

import (
	"sort"

	"github.com/fmspush/fmspush/health"
)

// verdictKind is what the loop counts verdicts by: they become the labels of
// a Prometheus counter, so each part is a word of a small vocabulary.
type verdictKind struct {
	path  string
	layer health.Layer
	cause string
}

// maxVerdictKinds caps the distinct kinds a stream counts. Paths (2), layers
// (9) and causes (a fixed vocabulary of a few dozen words, few of them
// possible at each layer) keep a real stream far below it; a verdict of a
// new kind past the cap is counted with cause "other" (one more kind per
// path and layer at most), and the number of series a stream exports stays
// bounded whatever its paths report.
const maxVerdictKinds = 64

// maxCauseLen bounds a cause used as a label value.
const maxCauseLen = 48

// countVerdict counts v by its kind.
func (l *loop) countVerdict(v *health.Verdict) {
	k := verdictKind{path: v.Path, layer: v.Layer, cause: labelCause(v.Cause)}
	if _, ok := l.kinds[k]; !ok && len(l.kinds) >= maxVerdictKinds {
		k.cause = health.CauseOther
	}
	l.kinds[k]++
}

// labelCause returns cause when it is a short snake_case word (what every
// cause of the vocabulary is), health.CauseOther otherwise: a label value
// never carries free text (an address, a server's words).
func labelCause(cause string) string {
	if cause == "" || len(cause) > maxCauseLen {
		return health.CauseOther
	}
	for _, c := range cause {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return health.CauseOther
		}
	}
	return cause
}

// verdictCounts lists the counts, sorted by path, layer and cause.
func (l *loop) verdictCounts() []health.VerdictCount {
	if len(l.kinds) == 0 {
		return nil
	}
	out := make([]health.VerdictCount, 0, len(l.kinds))
	for k, n := range l.kinds {
		out = append(out, health.VerdictCount{Path: k.path, Layer: k.layer, Cause: k.cause, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Layer != b.Layer {
			return a.Layer < b.Layer
		}
		return a.Cause < b.Cause
	})
	return out
}
