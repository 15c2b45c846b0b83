package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Certificate storage: the key-value table behind
// github.com/caddyserver/certmagic's Storage (see agent/tlsserve/dbstorage),
// so that every agent on one database serves the same certificates; its
// locks, which make only one of them ask the CA, are the named locks of
// locks.go. The statements are plain SQL that SQLite and PostgreSQL both
// run.

// CertData returns the value stored at key and when it was stored, or
// ErrNotFound.
func (t *Tx) CertData(key string) ([]byte, time.Time, error) {
	var v []byte
	var mod int64
	err := t.queryRow(`SELECT value, modified FROM certmagic_data WHERE key = ?`, key).Scan(&v, &mod)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, fmt.Errorf("certificate storage key %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("load certificate storage key %s: %w", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, fromNanos(mod), nil
}

// CertDataInfo returns the size of the value stored at key and when it was
// stored, or ErrNotFound, without reading the value.
func (t *Tx) CertDataInfo(key string) (size int64, modified time.Time, err error) {
	var mod int64
	err = t.queryRow(`SELECT length(value), modified FROM certmagic_data WHERE key = ?`, key).Scan(&size, &mod)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, fmt.Errorf("certificate storage key %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("stat certificate storage key %s: %w", key, err)
	}
	return size, fromNanos(mod), nil
}

// PutCertData stores value at key, replacing what was there.
func (t *Tx) PutCertData(key string, value []byte, modified time.Time) error {
	if value == nil {
		value = []byte{}
	}
	_, err := t.exec(`INSERT INTO certmagic_data(key, value, modified) VALUES (?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value, modified = excluded.modified`, key, value, nanos(modified))
	if err != nil {
		return fmt.Errorf("store certificate storage key %s: %w", key, err)
	}
	return nil
}

// CertDataKeys returns, sorted, the keys below prefix: those that start
// with prefix + "/" (every key when prefix is ""). A key equal to prefix is
// not among them.
func (t *Tx) CertDataKeys(prefix string) ([]string, error) {
	var rows *sql.Rows
	var err error
	if prefix == "" {
		rows, err = t.query(`SELECT key FROM certmagic_data ORDER BY key`)
	} else {
		p := prefix + "/"
		// substr counts characters in both SQLite and PostgreSQL; it is
		// exact where LIKE would need escaping and, in SQLite, ignore case.
		rows, err = t.query(`SELECT key FROM certmagic_data WHERE substr(key, 1, ?) = ? ORDER BY key`, utf8.RuneCountInString(p), p)
	}
	if err != nil {
		return nil, fmt.Errorf("list certificate storage %s: %w", prefix, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("list certificate storage %s: %w", prefix, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list certificate storage %s: %w", prefix, err)
	}
	return keys, nil
}

// DeleteCertData removes key and every key below it (those starting with
// key + "/"); a missing key is not an error.
func (t *Tx) DeleteCertData(key string) error {
	p := key + "/"
	_, err := t.exec(`DELETE FROM certmagic_data WHERE key = ? OR substr(key, 1, ?) = ?`, key, utf8.RuneCountInString(p), p)
	if err != nil {
		return fmt.Errorf("delete certificate storage key %s: %w", key, err)
	}
	return nil
}
