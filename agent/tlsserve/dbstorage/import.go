package dbstorage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/rosterhq/roster/store"
)

// importedSetting is the store setting that records that ImportFiles ran.
const importedSetting = "certmagic_files_imported"

// ImportFiles copies certmagic's file storage at dir (the data directory's
// certmagic folder of earlier versions: ACME account, certificates, keys,
// metadata) into the database, once per database: the first call records
// that it ran, and later calls return 0 without reading dir. A key the
// database has already (another agent's) is kept, never overwritten; lock
// files are skipped. So an upgraded agent serves the certificate it had
// rather than asking the CA again (and running into its rate limits). It
// returns how many keys it copied; dir may be missing.
func (s *Storage) ImportFiles(ctx context.Context, dir string) (int, error) {
	done := false
	if err := s.db.Read(ctx, func(tx *store.Tx) error {
		_, err := tx.Setting(importedSetting)
		done = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}); err != nil || done {
		return 0, err
	}
	type file struct {
		key  string
		data []byte
		mod  time.Time
	}
	var files []file
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == "locks" {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, file{key: filepath.ToSlash(rel), data: b, mod: info.ModTime()})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("import certificates from %s: %w", dir, err)
	}
	n := 0
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		n = 0
		if _, err := tx.Setting(importedSetting); err == nil {
			return nil // another agent was quicker
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, f := range files {
			_, _, err := tx.CertDataInfo(f.key)
			if err == nil {
				continue
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := tx.PutCertData(f.key, f.data, f.mod); err != nil {
				return err
			}
			n++
		}
		return tx.SetSetting(importedSetting, s.now().UTC().Format(time.RFC3339))
	})
	if err != nil {
		return 0, fmt.Errorf("import certificates from %s: %w", dir, err)
	}
	return n, nil
}
