package httpapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The files under deploy/ that name fmspush's metrics.
var (
	alertsFile    = filepath.Join("..", "deploy", "prometheus", "alerts.yml")
	alertsTest    = filepath.Join("..", "deploy", "prometheus", "alerts_test.yml")
	dashboardFile = filepath.Join("..", "deploy", "grafana", "fmspush.json")
)

var (
	metricName = regexp.MustCompile(`\bfmspush_[a-zA-Z0-9_]+`)
	// selector is a metric with label matchers: fmspush_x{a="b", c=~"d"}.
	selector = regexp.MustCompile(`\b(fmspush_[a-zA-Z0-9_]+)\s*\{([^}]*)\}`)
	matcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"`)
)

// exported returns the metrics collected from a full status, each with its
// label names.
func exported(t *testing.T) map[string]map[string]bool {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&collector{source: staticSource(fullStatus()), now: func() time.Time { return t0 }})
	fams, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]map[string]bool{}
	for _, f := range fams {
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		out[f.GetName()] = labels
	}
	return out
}

// requireKnown checks that every metric text names is exported, and that
// every label a selector matches on is one of the metric's labels.
func requireKnown(t *testing.T, metrics map[string]map[string]bool, where, text string) {
	t.Helper()
	for _, name := range metricName.FindAllString(text, -1) {
		require.Contains(t, metrics, name, "%s names %s, which the collector does not export", where, name)
	}
	for _, sel := range selector.FindAllStringSubmatch(text, -1) {
		for _, m := range matcher.FindAllStringSubmatch(sel[2], -1) {
			require.True(t, metrics[sel[1]][m[1]], "%s matches %s on label %q, which it does not have", where, sel[1], m[1])
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRulesNameOnlyExportedMetrics(t *testing.T) {
	metrics := exported(t)
	raw, err := os.ReadFile(alertsFile)
	require.NoError(t, err)
	var rf ruleFile
	require.NoError(t, yaml.Unmarshal(raw, &rf))
	requireKnown(t, metrics, alertsFile, string(raw)) // comments included
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "a rule of group %s has no alert name", g.Name)
			require.NotEmpty(t, metricName.FindAllString(r.Expr, -1), "%s names no fmspush metric: %s", r.Alert, r.Expr)
			requireKnown(t, metrics, r.Alert, r.Expr)
			require.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], "%s has no severity", r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], "%s has no summary", r.Alert)
			if r.For != "" {
				_, err := time.ParseDuration(r.For)
				require.NoError(t, err, "%s: for", r.Alert)
			}
			alerts[r.Alert] = true
		}
	}
	for _, a := range []string{"FmspushStreamDown", "FmspushRepeatedFailovers", "FmspushCircuitOpen", "FmspushDeliveryStalled", "FmspushCongested"} {
		require.True(t, alerts[a], "no alert %s", a)
	}
}

// TestPromtoolChecksTheAlertRules runs promtool (Debian's prometheus
// package, installed by scripts/deps.sh test) on the rules and their unit
// tests; without promtool it says so and skips.
func TestPromtoolChecksTheAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not found (Debian package prometheus, scripts/deps.sh test): the alert rules are checked only against the exported metrics")
	}
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"test", "rules", alertsTest}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboardNamesOnlyExportedMetrics(t *testing.T) {
	metrics := exported(t)
	raw, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(raw, &d))
	require.NotEmpty(t, d.UID)
	var all any
	require.NoError(t, json.Unmarshal(raw, &all))
	for _, s := range jsonStrings(all) { // queries, variables, descriptions
		requireKnown(t, metrics, dashboardFile, s)
	}
	titles := map[string]bool{}
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for _, q := range p.Targets {
			require.NotEmpty(t, metricName.FindAllString(q.Expr, -1), "panel %q: %q names no fmspush metric", p.Title, q.Expr)
		}
		titles[p.Title] = true
	}
	for _, want := range []string{"State and active path", "Active path", "Failovers", "Verdicts by layer", "Delivery lag",
		"Throughput vs needed", "Circuit per path", "Source"} {
		require.True(t, titles[want], "no panel %q", want)
	}
}

// jsonStrings returns every string in a decoded JSON value.
func jsonStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, jsonStrings(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, jsonStrings(e)...)
		}
		return out
	}
	return nil
}
