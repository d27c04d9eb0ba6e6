package archcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// moduleDir is the directory of the module's go.mod.
func moduleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	gomod := strings.TrimSpace(string(out))
	require.NotEmpty(t, gomod, "not in a module")
	return filepath.Dir(gomod)
}

// docs/architecture.md's import table says what the code imports.
func TestArchitectureTableMatchesImports(t *testing.T) {
	dir := moduleDir(t)
	doc, err := os.ReadFile(filepath.Join(dir, "docs", "architecture.md"))
	require.NoError(t, err)
	table, err := ParseTable(doc)
	require.NoError(t, err)
	code, err := ModuleGraph(dir)
	require.NoError(t, err)
	require.Contains(t, code["cmd/fmspush"], "supervisor", "the graph misses cmd/fmspush's imports")
	diffs := Diff(table, code)
	require.Empty(t, diffs, "docs/architecture.md's import table and the code disagree:\n%s", strings.Join(diffs, "\n"))
}

const sampleDoc = "# A\n\n" + TableHeading + "\n\nprose\n\n" +
	"| package | its room | imports (project) |\n" +
	"|---|---|---|\n" +
	"| `a` | the `b` user | `b` (for its `C`), `c` |\n" +
	"| root `fmspush` | embedded files | none (only the standard library) |\n" +
	"\nafter the table | not a row\n"

func TestParseTable(t *testing.T) {
	g, err := ParseTable([]byte(sampleDoc))
	require.NoError(t, err)
	require.Equal(t, Graph{"a": {"b": true, "c": true}, RootName: {}}, g)
}

func TestParseTableRefusesVagueImports(t *testing.T) {
	doc := strings.Replace(sampleDoc, "`b` (for its `C`), `c`", "everything below", 1)
	_, err := ParseTable([]byte(doc))
	require.ErrorContains(t, err, "write none")
}

func TestDiffNamesEveryDisagreement(t *testing.T) {
	doc := Graph{"a": {"b": true}, "gone": {}}
	code := Graph{"a": {"c": true}, "new": {"a": true}}
	require.Equal(t, []string{
		"`a` does not import `b`: the table says it does",
		"`a` imports `c`: the table does not say so",
		"`new` has no row in the table (it imports `a`)",
		"the table has a row for `gone`: no such package",
	}, Diff(doc, code))
}

func TestDecodeList(t *testing.T) {
	out := []byte(`{"ImportPath":"m","Imports":["fmt","m/a"],"Module":{"Path":"m"}}
{"ImportPath":"m/a","Imports":["m/ab","other/m"],"Module":{"Path":"m"}}`)
	g, err := decodeList(out)
	require.NoError(t, err)
	require.Equal(t, Graph{RootName: {"a": true}, "a": {"ab": true}}, g)
}
