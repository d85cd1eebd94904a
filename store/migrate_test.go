package store

import (
	"strings"
	"testing"
)

// Both dialects must have the same migrations, so a database moved from
// one to the other (and the code, which assumes one schema) agree.
func TestMigrationsMatchAcrossDialects(t *testing.T) {
	lite, err := loadMigrations(migrationFS, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations(migrationFS, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 || len(lite) != len(pg) {
		t.Fatalf("%d sqlite and %d postgres migrations", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].name != pg[i].name {
			t.Errorf("migration %d: sqlite %s, postgres %s", i, lite[i].name, pg[i].name)
		}
		if lite[i].version != i+1 {
			t.Errorf("migration %s: version %d, want %d (no gaps)", lite[i].name, lite[i].version, i+1)
		}
	}
}

func TestPending(t *testing.T) {
	all := []migration{{version: 1, name: "0001_a.sql"}, {version: 2, name: "0002_b.sql"}, {version: 3, name: "0003_c.sql"}}
	for _, c := range []struct {
		applied []int
		want    []int
		err     string
	}{
		{nil, []int{1, 2, 3}, ""},
		{[]int{1}, []int{2, 3}, ""},
		{[]int{1, 2, 3}, nil, ""},
		{[]int{2, 1}, []int{3}, ""},
		{[]int{1, 2, 3, 4}, nil, "migration 4, which this version of kakunin does not know"},
	} {
		todo, err := pending(all, c.applied)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("pending(%v) = %v, want error %q", c.applied, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("pending(%v): %v", c.applied, err)
			continue
		}
		var got []int
		for _, m := range todo {
			got = append(got, m.version)
		}
		if len(got) != len(c.want) {
			t.Errorf("pending(%v) = %v, want %v", c.applied, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("pending(%v) = %v, want %v", c.applied, got, c.want)
			}
		}
	}
}
