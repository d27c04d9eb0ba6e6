// Package archcheck checks the package import table of docs/architecture.md
// against the code: the table names every package of the module and the
// project packages it imports (its non-test imports, default build tags),
// and Diff names every place where the two disagree.
//
// The table's format: one row per package, three columns (the package, its
// room, its project imports). A package is written as its path within the
// module in backquotes (`cmd/fmspush`); the module's root package is
// `fmspush`. In the imports column, every backquoted name outside
// parentheses is an import; parentheses hold notes; `none` (without
// backquotes) says the package imports no project package.
package archcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// Graph maps a package (its path within the module; RootName for the root)
// to the set of project packages it imports.
type Graph map[string]map[string]bool

// RootName is how the table and a Graph name the module's root package.
const RootName = "fmspush"

// TableHeading is the heading of the section that holds the table.
const TableHeading = "## Packages and the direction of imports"

// listed is the part of `go list -json` that ModuleGraph reads.
type listed struct {
	ImportPath string
	Imports    []string
	Module     *struct{ Path string }
}

// ModuleGraph runs `go list -json ./...` in dir, a directory of the module,
// and returns its project-internal import graph (non-test imports).
func ModuleGraph(dir string) (Graph, error) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Module", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, stderr.Bytes())
	}
	return decodeList(out)
}

// decodeList builds the graph from go list's stream of JSON objects.
func decodeList(out []byte) (Graph, error) {
	g := Graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return g, nil
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		if p.Module == nil {
			return nil, fmt.Errorf("go list: %s is in no module", p.ImportPath)
		}
		name := relName(p.Module.Path, p.ImportPath)
		g[name] = map[string]bool{}
		for _, imp := range p.Imports {
			if imp == p.Module.Path || strings.HasPrefix(imp, p.Module.Path+"/") {
				g[name][relName(p.Module.Path, imp)] = true
			}
		}
	}
}

// relName is an import path's name within its module.
func relName(module, path string) string {
	if path == module {
		return RootName
	}
	return strings.TrimPrefix(path, module+"/")
}

var (
	backquoted = regexp.MustCompile("`([^`]+)`")
	notes      = regexp.MustCompile(`\([^)]*\)`)
)

// ParseTable reads the import table of the architecture document: the first
// Markdown table after TableHeading.
func ParseTable(doc []byte) (Graph, error) {
	rows, err := tableRows(string(doc))
	if err != nil {
		return nil, err
	}
	g := Graph{}
	for _, row := range rows {
		name, imports, err := parseRow(row)
		if err != nil {
			return nil, err
		}
		if g[name] != nil {
			return nil, fmt.Errorf("table: two rows for `%s`", name)
		}
		g[name] = imports
	}
	return g, nil
}

// tableRows returns the body rows of the table under TableHeading.
func tableRows(doc string) ([]string, error) {
	_, section, ok := strings.Cut(doc, "\n"+TableHeading+"\n")
	if !ok {
		return nil, fmt.Errorf("no heading %q", TableHeading)
	}
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "|"):
			rows = append(rows, line)
		case len(rows) > 0:
			return dropHeader(rows)
		}
	}
	return dropHeader(rows)
}

// dropHeader drops the table's header row and its separator.
func dropHeader(rows []string) ([]string, error) {
	if len(rows) < 3 || !strings.HasPrefix(rows[1], "|---") {
		return nil, fmt.Errorf("no table with a header under %q", TableHeading)
	}
	return rows[2:], nil
}

// parseRow reads one row: the package's name and the packages it imports.
func parseRow(row string) (string, map[string]bool, error) {
	cells := strings.Split(strings.Trim(row, "|"), "|")
	if len(cells) != 3 {
		return "", nil, fmt.Errorf("table row %q: %d columns, want 3", row, len(cells))
	}
	m := backquoted.FindStringSubmatch(cells[0])
	if m == nil {
		return "", nil, fmt.Errorf("table row %q: no `package` in the first column", row)
	}
	col := notes.ReplaceAllString(cells[2], "")
	imports := map[string]bool{}
	for _, im := range backquoted.FindAllStringSubmatch(col, -1) {
		imports[im[1]] = true
	}
	if len(imports) == 0 && strings.TrimSpace(col) != "none" {
		return "", nil, fmt.Errorf("table row `%s`: imports %q name no `package` (write none when it imports none)", m[1], cells[2])
	}
	return m[1], imports, nil
}

// Diff names every difference between the table (doc) and the code, sorted.
func Diff(doc, code Graph) []string {
	var out []string
	for name, imports := range code {
		listed, ok := doc[name]
		if !ok {
			out = append(out, fmt.Sprintf("`%s` has no row in the table (it imports %s)", name, setString(imports)))
			continue
		}
		for imp := range imports {
			if !listed[imp] {
				out = append(out, fmt.Sprintf("`%s` imports `%s`: the table does not say so", name, imp))
			}
		}
		for imp := range listed {
			if !imports[imp] {
				out = append(out, fmt.Sprintf("`%s` does not import `%s`: the table says it does", name, imp))
			}
		}
	}
	for name := range doc {
		if _, ok := code[name]; !ok {
			out = append(out, fmt.Sprintf("the table has a row for `%s`: no such package", name))
		}
	}
	sort.Strings(out)
	return out
}

// setString lists a set's names, sorted, or "none".
func setString(s map[string]bool) string {
	if len(s) == 0 {
		return "none"
	}
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, "`"+n+"`")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
