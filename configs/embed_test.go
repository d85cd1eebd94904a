package configs

import (
	"bytes"
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
