package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"kakunin/store"
)

// runRekey re-encrypts every stored secret under store.encryption.current,
// so a retired key can then be removed from the configuration.
func runRekey(args []string) error {
	fs := flag.NewFlagSet("rekey", flag.ContinueOnError)
	path := fs.String("config", "/etc/kakunin/kakunin.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.Store, newLogger(cfg.Log, os.Stderr))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	rk, ok := st.(store.Rekeyer)
	if !ok {
		return errors.New("this store cannot re-encrypt")
	}
	n, err := rk.Rekey(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("Re-encrypted %d methods under key %q. Keys no longer named by any row can be removed.\n", n, cfg.Store.Encryption.Current)
	return nil
}
