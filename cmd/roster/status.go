package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/directory"
)

// probeFlags say where to look for a running agent.
type probeFlags struct{ listen, config string }

func (p *probeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.listen, "listen", "", "look for the agent at this address (host:port) only\n(default: the listen address of --config, the port of the agent's public URL, and 127.0.0.1:8080)")
	cmd.Flags().StringVar(&p.config, "config", os.Getenv("ROSTER_CONFIG"), "the agent's configuration file, to find its listen address (env ROSTER_CONFIG)")
}

// prober returns the probe for the agent of this data dir; dir may be nil
// (no store yet). It asks on 127.0.0.1 only, within 2 seconds.
func (p *probeFlags) prober(ctx context.Context, dir *directory.Service) (directory.AgentProber, error) {
	listen := p.listen
	if listen == "" {
		cfg := config.Default()
		if p.config != "" {
			var err error
			if cfg, err = config.Load(p.config); err != nil {
				return nil, usageError{err}
			}
		}
		if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
			return nil, usageError{err}
		}
		listen = cfg.Listen
	}
	pub := ""
	if dir != nil {
		pub = lastPublicURL(ctx, dir)
	}
	return agent.LocalProber(listen, pub, p.listen != ""), nil
}

func newStatusCmd(rf *rootFlags) *cobra.Command {
	var pf probeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether the agent runs, each tenant's counts and last request, and what needs attention",
		Long: `Show a local overview, read from the data dir, without signing in to Microsoft
Graph: whether the agent answers on this machine, each tenant's users, groups
and active tokens, Entra's last request and its outcome, requests rejected in
the last 24 hours, domains that are pending, failed or lapsing, tokens that
expire within 30 days, and the saved Entra connection.

Exit codes: 0 all is well; 3 something needs attention (listed at the end);
1 the overview could not be read (e.g. no Roster data in --data-dir).`,
		Example: "  roster status\n  roster status --json\n  roster status --listen 127.0.0.1:8443",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dir, closeFn, err := rf.openExisting(ctx)
			if err != nil {
				return err
			}
			defer closeFn()
			probe, err := pf.prober(ctx, dir)
			if err != nil {
				return err
			}
			st, err := dir.Status(ctx, time.Now(), probe)
			if err != nil {
				return err
			}
			conns := map[string]*entraConn{}
			for _, t := range st.Tenants {
				conns[t.ID] = entraSummary(ctx, dir, t.ID)
			}
			if asJSON {
				err = printJSON(cmd.OutOrStdout(), struct {
					*directory.Status
					Entra map[string]*entraConn `json:"entra"`
				}{st, conns})
			} else {
				err = printStatus(cmd.OutOrStdout(), st, conns)
			}
			if err == nil && len(st.Attention) > 0 {
				return attentionError{len(st.Attention)}
			}
			return err
		},
	}
	pf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// entraConn is the saved Entra connection of a tenant, as status shows it.
type entraConn struct {
	App       string    `json:"app"`
	AppID     string    `json:"app_id"`
	JobID     string    `json:"job_id"`
	TenantURL string    `json:"tenant_url"`
	Connected time.Time `json:"connected"`
}

// entraSummary reads the tenant's saved Entra connection; nil when there is
// none (or it cannot be read).
func entraSummary(ctx context.Context, dir *directory.Service, tenant string) *entraConn {
	st, err := dir.EntraConnection(ctx, tenant)
	if err != nil {
		return nil
	}
	return &entraConn{App: st.App.DisplayName, AppID: st.App.AppID, JobID: st.JobID, TenantURL: st.TenantURL, Connected: st.Connected}
}

func printStatus(w io.Writer, st *directory.Status, conns map[string]*entraConn) error {
	switch a := st.Agent; {
	case a.Ready:
		fmt.Fprintf(w, "Agent: serving at %s.\n", a.Address)
	case a.Reachable:
		fmt.Fprintf(w, "Agent: answers at %s, not ready: %s.\n", a.Address, a.Detail)
	default:
		fmt.Fprintf(w, "Agent: not running here (%s).\n", a.Detail)
	}
	fmt.Fprintln(w)
	if len(st.Tenants) == 0 {
		fmt.Fprintln(w, "No tenants yet.")
	} else {
		tw := newTable(w)
		fmt.Fprintln(tw, "TENANT\tUSERS\tGROUPS\tTOKENS\tLAST REQUEST\tOUTCOME\tREJECTED 24H\tENTRA APP")
		for _, t := range st.Tenants {
			last, outcome := "none yet", "-"
			if r := t.LastRequest; r != nil {
				last = fmt.Sprintf("%s %s (%s)", r.Method, r.Path, ago(&r.At, st.At))
				outcome = fmt.Sprintf("%d %s", r.Status, r.Outcome)
			}
			app := "not connected"
			if c := conns[t.ID]; c != nil {
				app = fmt.Sprintf("%s (connected %s)", c.App, c.Connected.Local().Format("2006-01-02"))
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%d\t%s\n", t.ID, t.Users, t.Groups, t.ActiveTokens, last, outcome, t.Failures, app)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.Attention) == 0 {
		fmt.Fprintln(w, "\nAll is well.")
		return nil
	}
	fmt.Fprintln(w, "\nNeeds attention:")
	for _, a := range st.Attention {
		fmt.Fprintln(w, "  - "+a)
	}
	return nil
}

func newBackupCmd(rf *rootFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database to FILE, while the agent runs",
		Long: `Write a consistent copy of the whole database (tenants, tokens, users, groups,
domains, events and the saved Entra connection) to FILE, which must not exist.
The agent may keep running and serving Entra: the copy is one snapshot, taken
with SQLite's VACUUM INTO, and checked with SQLite's integrity check before it
gets its name. Put it back with 'roster restore FILE'.

FILE holds token hashes, not tokens, but it does hold your directory: it is
written readable by you only; keep it that way.`,
		Example: "  roster backup /var/backups/roster-$(date +%F).db",
		Args:    exactArgs(1, "the file to write, e.g. 'roster backup roster-backup.db'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			if err := dir.Backup(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote a verified backup of %s to %s.\n", rf.dbPath(), args[0])
			return nil
		},
	}
}

func newRestoreCmd(rf *rootFlags) *cobra.Command {
	var pf probeFlags
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the database with a backup (stop the agent first)",
		Long: `Replace the database in --data-dir with FILE, a backup from 'roster backup'.

FILE must pass SQLite's integrity check. The agent must be stopped: restore
refuses while an agent answers on this machine at the addresses below
(--listen, else the listen address of --config and the port of the public
URL the agent last ran with); it cannot tell the agent of another data dir
on the same port from this one's. The current database is kept beside the
new one as roster.db.before-restore-<time>; the new one is moved into place
in one step, so the data dir never holds half of either.`,
		Example: "  sudo systemctl stop roster\n  roster restore /var/backups/roster-2026-01-02.db\n  sudo systemctl start roster",
		Args:    exactArgs(1, "the backup file, e.g. 'roster restore roster-backup.db'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			// The current store, if it opens, says where the agent was last
			// published; a missing or broken one is what restore is for.
			dir, closeFn, err := rf.openExisting(ctx)
			if err != nil {
				dir = nil
			}
			probe, err := pf.prober(ctx, dir)
			if dir != nil {
				closeFn() // the store must be closed before its file is replaced
			}
			if err != nil {
				return err
			}
			kept, err := directory.Restore(ctx, args[0], rf.dbPath(), time.Now(), probe)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Restored %s from %s.\n", rf.dbPath(), args[0])
			if kept != "" {
				fmt.Fprintf(w, "The previous database is kept as %s.\n", kept)
			}
			fmt.Fprintln(w, "Start the agent again: 'roster agent', or 'sudo systemctl start roster'.")
			return nil
		},
	}
	pf.register(cmd)
	return cmd
}
