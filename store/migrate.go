package store

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migrations are SQL files named NNNN_description.sql, one directory per
// dialect, applied in version order inside one transaction at Open and
// recorded in schema_migrations. A released migration is never edited: a
// change is a new file in both directories with the same version.
//
//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string // file name
	sql     string
}

// loadMigrations reads the migrations of a dialect ("sqlite", "postgres").
func loadMigrations(fsys fs.FS, dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		prefix, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s/%s: name must start with a positive version and '_'", dir, name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s in %s: same version %d", other, name, dir, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s/%s: %w", dir, name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// pending returns the migrations not yet applied, given the versions the
// database has recorded. A database that records a version this binary
// does not know was upgraded by a newer kakunin: running against it could
// corrupt data, so that is an error.
func pending(all []migration, applied []int) ([]migration, error) {
	known := make(map[int]bool, len(all))
	for _, m := range all {
		known[m.version] = true
	}
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		if !known[v] {
			return nil, fmt.Errorf("database schema has migration %d, which this version of kakunin does not know: the database was upgraded by a newer kakunin; run that version (downgrades are not supported)", v)
		}
		done[v] = true
	}
	var todo []migration
	for _, m := range all {
		if !done[m.version] {
			todo = append(todo, m)
		}
	}
	return todo, nil
}

func schemaVersion(all []migration) int {
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].version
}
