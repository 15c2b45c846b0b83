package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent"
	"github.com/rosterhq/roster/agent/config"
	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/store"
)

type rootFlags struct {
	dataDir string
}

func newRootCmd() *cobra.Command {
	rf := &rootFlags{}
	root := &cobra.Command{
		Use:   "roster",
		Short: "Keep a local copy of your Microsoft Entra ID users and groups, provisioned over SCIM 2.0",
		Long: `Roster is a self-hosted SCIM 2.0 service provider for Microsoft Entra ID.

Entra's provisioning service creates, updates, disables and deletes your users
and groups in Roster's database (SQLite, or PostgreSQL for several agents) as
people join, move and leave. Give Entra a Tenant URL and a credential (an OAuth
client, or a Secret Token), and the agent does the rest.

Start here:
  roster setup                      the wizard: from nothing to users arriving, in a few minutes
  roster agent                      run the SCIM agent (first start prints a Tenant URL and token)
  roster entra connect              create and configure the Entra enterprise app (Microsoft Graph)
  roster provision USER             provision one user now and show each step
  roster oauth client add           an OAuth client for Entra (roster token issue: a Secret Token)
  roster domain add contoso.com     accept only users of email domains you have proven you own
  roster users list                 see who Entra provisioned
  roster log --failed               see what Entra sent that was rejected
  roster status                     what runs, what arrived, and what needs attention

Exit codes: 0 success; 1 the command failed (e.g. an unknown tenant, or no
Roster data in --data-dir); 2 wrong usage (a bad flag, argument or value);
3 'roster status' found something that needs attention.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		//lint:ignore ST1005 a usage error ends with a hint line for the terminal
		return usageError{fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath())}
	})
	root.PersistentFlags().StringVar(&rf.dataDir, "data-dir", config.DefaultDataDir(os.Getenv),
		"directory holding roster.db and other state (env ROSTER_DATA_DIR)")
	// Every command is added here, and only here; help lists them sorted.
	for _, c := range []func(*rootFlags) *cobra.Command{
		newAgentCmd, newSetupCmd, newStatusCmd, newTenantCmd, newTokenCmd, newDomainCmd,
		newEntraCmd, newProvisionCmd, newLogCmd, newUsersCmd, newGroupsCmd, newChangesCmd,
		newServiceCmd, newConfigCmd, newBackupCmd, newRestoreCmd, newWebhookCmd, newOAuthCmd, newMigrateCmd,
	} {
		root.AddCommand(c(rf))
	}
	root.AddCommand(newVersionCmd())
	return root
}

// dbPath is the store the commands open: the PostgreSQL database of
// ROSTER_DATABASE_URL (the agent's database.url) when set, else roster.db
// in the data directory.
func (rf *rootFlags) dbPath() string {
	if u := os.Getenv("ROSTER_DATABASE_URL"); u != "" {
		return u
	}
	return filepath.Join(rf.dataDir, agent.DatabaseFile)
}

// open opens the store, creating it if needed, and the directory over it.
func (rf *rootFlags) open(ctx context.Context) (*directory.Service, func(), error) {
	return rf.openStore(ctx, false)
}

// openExisting is open for commands that only read: a data dir without a
// store is an error (most likely a mistyped --data-dir), not a new empty one.
func (rf *rootFlags) openExisting(ctx context.Context) (*directory.Service, func(), error) {
	return rf.openStore(ctx, true)
}

// runList is the body of a list command: it opens the existing store, reads
// the items, and prints them as a JSON array of row(item) when asJSON (an
// empty list is []), else as text.
func runList[T any](cmd *cobra.Command, rf *rootFlags, asJSON bool,
	read func(ctx context.Context, dir *directory.Service) ([]T, error),
	row func(T) map[string]any,
	text func(w io.Writer, dir *directory.Service, items []T) error) error {
	dir, closeFn, err := rf.openExisting(cmd.Context())
	if err != nil {
		return err
	}
	defer closeFn()
	items, err := read(cmd.Context(), dir)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSONList(cmd.OutOrStdout(), items, row)
	}
	return text(cmd.OutOrStdout(), dir, items)
}

func (rf *rootFlags) openStore(ctx context.Context, mustExist bool) (*directory.Service, func(), error) {
	if rf.dataDir == "" {
		return nil, nil, usageError{errors.New("--data-dir must not be empty")}
	}
	opts, err := storeOptions()
	if err != nil {
		return nil, nil, err
	}
	opts.MustExist = mustExist
	db, err := store.Open(ctx, rf.dbPath(), opts)
	if errors.Is(err, store.ErrNoDatabase) {
		return nil, nil, fmt.Errorf("no Roster data in %s; run `roster agent` or `roster setup` first, or check --data-dir", rf.dataDir)
	}
	if err != nil {
		return nil, nil, err
	}
	return directory.New(db, nil, nil), func() { db.Close() }, nil
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "roster", buildVersion())
		},
	}
}

// storeOptions reads the store's tuning knobs from the environment:
// ROSTER_SQLITE_MMAP_SIZE (bytes of the database file SQLite may memory-map;
// default 0).
func storeOptions() (store.Options, error) {
	var o store.Options
	if v := os.Getenv("ROSTER_SQLITE_MMAP_SIZE"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, usageError{fmt.Errorf("ROSTER_SQLITE_MMAP_SIZE=%q: want a number of bytes, e.g. 268435456", v)}
		}
		o.MmapSize = n
	}
	if benchStoreOptions != nil {
		benchStoreOptions(&o)
	}
	return o, nil
}

// benchStoreOptions is nil but in the benchmark's re-executed agent
// (main_test.go), which measures the agent with the change log off.
var benchStoreOptions func(*store.Options)
