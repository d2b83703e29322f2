package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scanwatch/scanwatch/lab"
)

// dashboard is the part of Grafana's JSON model the tests read.
type dashboard struct {
	Templating struct {
		List []struct {
			Name, Type string
		}
	}
	Panels []struct {
		Title, Type string
		Targets     []struct{ Expr string }
	}
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("grafana/scanwatch.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/scanwatch.json: %v", err)
	}
	return d
}

// dashboardQueries returns every panel query with Grafana's variables
// filled in as Grafana would for "all sensors" over a 1 h range.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	q := map[string]string{}
	r := strings.NewReplacer("$__rate_interval", "1m", "$__range", "1h", `"$job"`, `".*"`, `"$instance"`, `".*"`)
	for _, p := range loadDashboard(t).Panels {
		for i, tg := range p.Targets {
			q[fmt.Sprintf("%s #%d", p.Title, i)] = r.Replace(tg.Expr)
		}
	}
	return q
}

func TestDashboardIsImportReady(t *testing.T) {
	d := loadDashboard(t)
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name+":"+v.Type)
	}
	for _, want := range []string{"datasource:datasource", "instance:query"} {
		if !slices.Contains(vars, want) {
			t.Errorf("no %s variable (have %v): the dashboard must pick its data source and sensors", want, vars)
		}
	}
	if len(dashboardQueries(t)) < 10 {
		t.Errorf("only %d queries", len(dashboardQueries(t)))
	}
}

// Every query parses as PromQL (promtool checks them as recording rules)
// and names only metrics scanwatch exports.
func TestDashboardQueries(t *testing.T) {
	lab.Require(t, "promtool")
	exported := exportedNames(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	metric := regexp.MustCompile(`\b(scanwatch|process)_[a-z0-9_]+`)
	n := 0
	for title, expr := range dashboardQueries(t) {
		for _, name := range metric.FindAllString(expr, -1) {
			family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !slices.Contains(exported, name) && !slices.Contains(exported, family) {
				t.Errorf("%s: %s is not exported by scanwatch", title, name)
			}
		}
		js, _ := json.Marshal(expr)
		fmt.Fprintf(&rules, "      - record: dashboard:q%d\n        expr: %s\n", n, js)
		n++
	}
	file := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	os.WriteFile(file, []byte(rules.String()), 0o644)
	if out, err := exec.Command("promtool", "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("dashboard queries do not parse: %v\n%s", err, out)
	}
}
