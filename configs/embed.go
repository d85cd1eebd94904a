// Package configs holds the files kakunin ships inside its binary: the
// users of the demo directory that `kakunin demo` serves, and other
// configuration files as they are added beside them.
package configs

import "embed"

// FS holds the embedded files by their names in this directory.
//
//go:embed demo-users.yaml
var FS embed.FS

// DemoUsers is demo-users.yaml, the users `kakunin demo` loads with
// demodir.Load. Their passwords are public: demo only.
//
//go:embed demo-users.yaml
var DemoUsers []byte
