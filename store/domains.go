package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DomainStatus is the verification state of an email domain.
type DomainStatus string

// Domain states (issue 3): pending until the TXT record is seen, failed after
// 72 hours without it, verified, and lapsed when a verified record has been
// missing for the grace period.
const (
	DomainPending  DomainStatus = "pending"
	DomainVerified DomainStatus = "verified"
	DomainFailed   DomainStatus = "failed"
	DomainLapsed   DomainStatus = "lapsed"
)

// Domain is an email domain of a tenant and its proof.
type Domain struct {
	TenantID     string
	Domain       string
	RecordName   string
	Value        string
	Status       DomainStatus
	Created      time.Time
	WindowStart  time.Time
	LastCheck    *time.Time
	NextCheck    *time.Time
	VerifiedAt   *time.Time
	MissingSince *time.Time
	Detail       string
}

const domainCols = `tenant_id, domain, record_name, value, status, created, window_start, last_check, next_check, verified_at, missing_since, detail`

func scanDomain(sc interface{ Scan(...any) error }) (*Domain, error) {
	d := &Domain{}
	var status string
	var created, window int64
	var last, next, verified, missing sql.NullInt64
	if err := sc.Scan(&d.TenantID, &d.Domain, &d.RecordName, &d.Value, &status, &created, &window, &last, &next, &verified, &missing, &d.Detail); err != nil {
		return nil, err
	}
	d.Status = DomainStatus(status)
	d.Created, d.WindowStart = fromNanos(created), fromNanos(window)
	d.LastCheck, d.NextCheck, d.VerifiedAt, d.MissingSince = fromNullNanos(last), fromNullNanos(next), fromNullNanos(verified), fromNullNanos(missing)
	return d, nil
}

// InsertDomain adds a domain; ErrConflict if the tenant has it already.
func (t *Tx) InsertDomain(d *Domain) error {
	_, err := t.exec(`INSERT INTO domains(`+domainCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.TenantID, d.Domain, d.RecordName, d.Value, string(d.Status), nanos(d.Created), nanos(d.WindowStart),
		nullNanos(d.LastCheck), nullNanos(d.NextCheck), nullNanos(d.VerifiedAt), nullNanos(d.MissingSince), d.Detail)
	if err != nil {
		return fmt.Errorf("add domain %s: %w", d.Domain, err)
	}
	return nil
}

// UpdateDomain stores d's state.
func (t *Tx) UpdateDomain(d *Domain) error {
	res, err := t.exec(`UPDATE domains SET status = ?, window_start = ?, last_check = ?, next_check = ?, verified_at = ?, missing_since = ?, detail = ?
		WHERE tenant_id = ? AND domain = ?`,
		string(d.Status), nanos(d.WindowStart), nullNanos(d.LastCheck), nullNanos(d.NextCheck), nullNanos(d.VerifiedAt), nullNanos(d.MissingSince), d.Detail,
		d.TenantID, d.Domain)
	if err != nil {
		return fmt.Errorf("update domain %s: %w", d.Domain, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("domain %s: %w", d.Domain, ErrNotFound)
	}
	return nil
}

// Domain returns one domain of a tenant, or ErrNotFound.
func (t *Tx) Domain(tenantID, domain string) (*Domain, error) {
	d, err := scanDomain(t.queryRow(`SELECT `+domainCols+` FROM domains WHERE tenant_id = ? AND domain = ?`, tenantID, domain))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("domain %q: %w", domain, ErrNotFound)
	}
	return d, err
}

// Domains lists the domains of a tenant ("" for every tenant), by name.
func (t *Tx) Domains(tenantID string) ([]*Domain, error) {
	return t.domains(`SELECT `+domainCols+` FROM domains WHERE ? = '' OR tenant_id = ? ORDER BY tenant_id, domain`, tenantID, tenantID)
}

// DueDomains lists domains whose next automatic check is at or before now.
func (t *Tx) DueDomains(now time.Time) ([]*Domain, error) {
	return t.domains(`SELECT `+domainCols+` FROM domains WHERE next_check IS NOT NULL AND next_check <= ? ORDER BY next_check`, nanos(now))
}

func (t *Tx) domains(query string, args ...any) ([]*Domain, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer rows.Close()
	var out []*Domain
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeleteDomain removes a domain; ErrNotFound if it is not there.
func (t *Tx) DeleteDomain(tenantID, domain string) error {
	res, err := t.exec(`DELETE FROM domains WHERE tenant_id = ? AND domain = ?`, tenantID, domain)
	if err != nil {
		return fmt.Errorf("remove domain %s: %w", domain, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("domain %q: %w", domain, ErrNotFound)
	}
	return nil
}
