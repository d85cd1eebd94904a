package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KAKUNIN_TEST_SECRET", "from-env")
	tests := []struct {
		in, want, source string
	}{
		{`s: inline-value`, "inline-value", "inline"},
		{`s: {file: ` + file + `}`, "from-file", "file:" + file},
		{`s: {env: KAKUNIN_TEST_SECRET}`, "from-env", "env:KAKUNIN_TEST_SECRET"},
	}
	for _, tt := range tests {
		var v struct{ S Secret }
		if err := yaml.Unmarshal([]byte(tt.in), &v); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if v.S.Value() != tt.want || v.S.Source() != tt.source {
			t.Errorf("%s: got %q from %q", tt.in, v.S.Value(), v.S.Source())
		}
		if strings.Contains(v.S.String(), tt.want) {
			t.Errorf("String() reveals the secret: %s", v.S.String())
		}
		out, _ := yaml.Marshal(v)
		if strings.Contains(string(out), tt.want) {
			t.Errorf("MarshalYAML reveals the secret: %s", out)
		}
	}
}

func TestSecretErrors(t *testing.T) {
	for _, in := range []string{
		`s: {env: KAKUNIN_SURELY_UNSET_VAR}`,
		`s: {file: /nonexistent/kakunin}`,
		`s: {file: a, env: b}`,
		`s: {path: a}`,
		`s: [a]`,
	} {
		var v struct{ S Secret }
		if err := yaml.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}
