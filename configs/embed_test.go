package configs

import (
	"bytes"
	"gopkg.in/yaml.v3"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDemoUsersEmbedded(t *testing.T) {
	if len(DemoUsers) == 0 {
		t.Fatal("DemoUsers is empty")
	}
	b, err := FS.ReadFile("demo-users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, DemoUsers) {
		t.Error("FS and DemoUsers differ")
	}
}

// The example alerts are valid YAML of Prometheus' rule-file shape, and
// name only metrics kakunin exports (checked against the sources).
func TestAlertsNameExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	var sources strings.Builder
	for _, dir := range []string{"../radius", "../challenge", "../ldapauth"} {
		files, _ := filepath.Glob(filepath.Join(dir, "metrics.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sources.Write(b)
		}
	}
	metric := regexp.MustCompile(`kakunin_[a-z_]+`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			for _, m := range metric.FindAllString(r.Expr, -1) {
				m = strings.TrimSuffix(m, "_bucket")
				if !strings.Contains(sources.String(), `"`+m+`"`) {
					t.Errorf("alert %s uses %s, which kakunin does not export", r.Alert, m)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no rules")
	}
}
