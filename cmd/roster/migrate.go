package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/store"
)

func newMigrateCmd(rf *rootFlags) *cobra.Command {
	var to, from string
	var replace, asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate --to postgres://…",
		Short: "Copy the SQLite database into PostgreSQL and verify the copy (stop the agent first)",
		Long: `Copy everything the agent keeps in roster.db (tenants, users, groups and their
members, tokens, OAuth clients, domains, events, webhooks, the change log and
the certificates) into a PostgreSQL database, so that several agents can share
it (docs/postgresql.md).

The agent must be stopped: migrate takes the data directory's lock, as the agent
does, and fails while an agent runs on it. The PostgreSQL database's schema is
created as the agent would create it; the database must hold no Roster data yet
(--replace deletes what it holds first). Rows are copied in batches; long copies
report their progress on stderr.

Then every table is verified: its rows are counted, and a SHA-256 checksum of
its rows in key order is computed on both sides. migrate prints the counts and
says "checksums match", or exits with status 1 naming what differs.

migrate does not change roster.db (but for bringing its schema up to date, as the
agent would): keep it as a backup.`,
		Example: `  sudo systemctl stop roster
  roster migrate --to 'postgres://roster@db.example.com/roster?sslmode=verify-full'
  roster migrate --from /backup/roster.db --to postgres://roster@127.0.0.1/roster --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if to == "" {
				return usageError{errors.New("--to is required: the PostgreSQL database to copy into, e.g. --to postgres://roster@db.example.com/roster")}
			}
			if !store.IsPostgresURL(to) {
				return usageError{fmt.Errorf("--to %q: want a PostgreSQL URL starting with postgres:// (to copy a SQLite file, use 'roster backup')", to)}
			}
			if from == "" {
				if rf.dataDir == "" {
					return usageError{errors.New("--data-dir must not be empty")}
				}
				from = filepath.Join(rf.dataDir, agent.DatabaseFile)
			}
			opts, err := storeOptions()
			if err != nil {
				return err
			}
			opts.Exclusive, opts.MustExist = true, true
			src, err := store.Open(ctx, from, opts)
			var locked *store.LockedError
			switch {
			case errors.As(err, &locked):
				return fmt.Errorf("roster migrate copies a database no agent is writing: %w", err)
			case errors.Is(err, store.ErrNoDatabase):
				return fmt.Errorf("no Roster database at %s; check --data-dir or --from", from)
			case err != nil:
				return err
			}
			defer src.Close()
			dst, err := store.Open(ctx, to, store.Options{})
			if err != nil {
				return err
			}
			defer dst.Close()

			progress := &copyProgress{w: cmd.ErrOrStderr()}
			rep, err := store.Copy(ctx, src, dst, store.CopyOptions{Replace: replace, Progress: progress.report})
			if errors.Is(err, store.ErrNotEmpty) {
				return fmt.Errorf("%s: %w.\nmigrate copies into an empty database only, so that it holds exactly what %s holds. "+
					"Point --to at a new database, or run again with --replace to delete what it holds first", dst.Path(), err, from)
			}
			if rep == nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				if jerr := printJSON(w, migrateJSON(from, dst.Path(), rep)); jerr != nil {
					return jerr
				}
				return err
			}
			printCopyReport(w, rep)
			if err != nil {
				return fmt.Errorf("the copy in %s differs from %s: %w", dst.Path(), from, err)
			}
			fmt.Fprintf(w, "\nCopied %s into %s: counts and checksums match.\n", from, dst.Path())
			hidden := ""
			if strings.Contains(dst.Path(), ":xxxxx@") {
				hidden = "\n     The password is shown as xxxxx: put the real one in."
			}
			fmt.Fprintf(w, `
Next:
  1. Point every agent at the database: in its configuration file set
       "database": {"url": "%[1]s"}
     or set ROSTER_DATABASE_URL=%[1]s in its environment.%[3]s
  2. Start the agents (e.g. sudo systemctl start roster). Set ROSTER_DATABASE_URL for
     roster commands too, so that they read and write the database.
  3. Keep %[2]s as a backup: the agents no longer use it.
`, dst.Path(), from, hidden)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "the PostgreSQL database to copy into: postgres://USER:PASSWORD@HOST/DATABASE?sslmode=…")
	f.StringVar(&from, "from", "", "the SQLite database to copy (default: roster.db in --data-dir)")
	f.BoolVar(&replace, "replace", false, "delete every row the destination holds (its directory, tokens and certificates) before copying")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// copyProgress reports a long copy's progress on stderr, at most once a
// second: a copy that takes less than a second prints nothing.
type copyProgress struct {
	w     io.Writer
	table string
	last  time.Time
}

func (p *copyProgress) report(table string, rows int64) {
	now := time.Now()
	if table != p.table {
		p.table, p.last = table, now
		return
	}
	if now.Sub(p.last) >= time.Second {
		fmt.Fprintf(p.w, "copying %s: %d rows so far\n", table, rows)
		p.last = now
	}
}

func printCopyReport(w io.Writer, rep *store.CopyReport) {
	tw := newTable(w)
	fmt.Fprintln(tw, "TABLE\tSOURCE\tCOPIED\tDESTINATION\tCHECKSUM")
	for _, t := range rep.Tables {
		sum := "match"
		if !t.Match() {
			sum = "DIFFERS"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", t.Table, t.SourceRows, t.Copied, t.DestRows, sum)
	}
	tw.Flush()
}

func migrateJSON(from, to string, rep *store.CopyReport) map[string]any {
	tables := make([]map[string]any, 0, len(rep.Tables))
	for _, t := range rep.Tables {
		tables = append(tables, map[string]any{
			"table": t.Table, "source_rows": t.SourceRows, "copied": t.Copied, "destination_rows": t.DestRows,
			"source_checksum": t.SourceChecksum, "destination_checksum": t.DestChecksum, "match": t.Match(),
		})
	}
	return map[string]any{"from": from, "to": to, "tables": tables, "match": len(rep.Mismatches()) == 0}
}
