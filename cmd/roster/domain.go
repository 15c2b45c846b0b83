package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/agent/directory"
	"github.com/rosterhq/roster/agent/domainproof"
	"github.com/rosterhq/roster/store"
)

// dnsFlags configure how domain records are looked up.
type dnsFlags struct {
	resolver   string
	nameserver string
}

func (f *dnsFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.resolver, "dns-resolver", os.Getenv("ROSTER_DNS_RESOLVER"),
		"recursive resolver (host:port) used to find a domain's authoritative servers (env ROSTER_DNS_RESOLVER; default: the system's)")
	cmd.Flags().StringVar(&f.nameserver, "dns-nameserver", os.Getenv("ROSTER_DNS_NAMESERVER"),
		"ask this DNS server (host:port) directly for every record, e.g. an internal server with split DNS (env ROSTER_DNS_NAMESERVER)")
}

func (f *dnsFlags) checker() *domainproof.Checker {
	c := &domainproof.Checker{Resolver: f.resolver}
	if f.nameserver != "" {
		c.Nameservers = []string{f.nameserver}
	}
	return c
}

func domainJSON(d *store.Domain) map[string]any {
	return map[string]any{"tenant": d.TenantID, "domain": d.Domain, "status": d.Status,
		"record":  map[string]any{"name": d.RecordName, "type": "TXT", "value": d.Value},
		"created": d.Created.UTC().Format(time.RFC3339), "last_check": fmtTime(d.LastCheck), "next_check": fmtTime(d.NextCheck),
		"verified_at": fmtTime(d.VerifiedAt), "missing_since": fmtTime(d.MissingSince), "detail": d.Detail}
}

func printRecord(w io.Writer, d *store.Domain) {
	fmt.Fprintf(w, "Add this record at the DNS provider of %s:\n\n", d.Domain)
	fmt.Fprintf(w, "  Name:   %s\n  Type:   TXT\n  Value:  %s\n\n", d.RecordName, d.Value)
	fmt.Fprintf(w, "Some providers want only the first label as the name: %s\n", d.RecordName[:len(d.RecordName)-len(d.Domain)-1])
}

func newDomainCmd(rf *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "domain",
		Short: "Prove ownership of email domains with a DNS TXT record",
		Long: `Prove that the organisation owns an email domain by publishing a DNS TXT record.

While a tenant has no domains, the agent accepts users of any domain (and says
so when it starts). Once it has one, the agent accepts only users whose
userName and work email are in a verified domain (or a subdomain of one).

A new domain is pending: the agent re-checks it for 72 hours, then marks it
failed ('roster domain verify' starts again). A verified domain is re-checked
daily; if its record disappears the agent warns, and after 7 days the domain
lapses: existing users are kept, changes to them are refused.

A running agent picks up changes made with these commands within 2 seconds.`,
	}
	var (
		tenant, listTenant string
		asJSON             bool
		vf                 dnsFlags
	)
	add := &cobra.Command{
		Use:     "add DOMAIN",
		Short:   "Add an email domain and print the TXT record to publish",
		Example: "  roster domain add contoso.com\n  roster domain add contoso.com --tenant tokyo --json",
		Args:    exactArgs(1, "a domain, e.g. 'roster domain add contoso.com'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			d, err := dir.AddDomain(cmd.Context(), tenant, args[0])
			if err := domainErr(err); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), domainJSON(d))
			}
			w := cmd.OutOrStdout()
			printRecord(w, d)
			fmt.Fprintf(w, "\nThen check it now with 'roster domain verify %s%s'; a running agent also checks it\nby itself for 72 hours. DNS changes can take a while to appear.\n", d.Domain, tenantFlag(tenant))
			return nil
		},
	}
	verify := &cobra.Command{
		Use:   "verify DOMAIN",
		Short: "Check a domain's TXT record now (and restart the 72-hour window)",
		Args:  exactArgs(1, "a domain from 'roster domain list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			d, res, err := dir.VerifyDomain(cmd.Context(), tenant, args[0], vf.checker())
			if err := domainErr(err); err != nil {
				return err
			}
			if asJSON {
				out := domainJSON(d)
				out["found"], out["servers"] = res.Found, res.Servers
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s: %s — %s\n", d.Domain, d.Status, d.Detail)
			if len(res.Servers) > 0 {
				fmt.Fprintf(w, "Asked: %v\n", res.Servers)
			}
			if d.Status != store.DomainVerified {
				fmt.Fprintln(w)
				printRecord(w, d)
				if len(res.Found) > 0 {
					fmt.Fprintf(w, "Found instead: %q\n", res.Found)
				}
			}
			return nil
		},
	}
	vf.register(verify)
	list := &cobra.Command{
		Use:   "list",
		Short: "List domains with their status, last and next check, and why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd, rf, asJSON,
				func(ctx context.Context, dir *directory.Service) ([]*store.Domain, error) {
					return dir.Domains(ctx, listTenant)
				},
				domainJSON,
				func(w io.Writer, dir *directory.Service, ds []*store.Domain) error {
					if err := warnOpenTenants(cmd, dir, listTenant); err != nil {
						return err
					}
					if len(ds) == 0 {
						return nil
					}
					now := time.Now()
					tw := newTable(w)
					fmt.Fprintln(tw, "TENANT\tDOMAIN\tSTATUS\tLAST CHECK\tNEXT CHECK\tDETAIL")
					for _, d := range ds {
						next := "-"
						if d.NextCheck != nil {
							next = ago(d.NextCheck, now)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.TenantID, d.Domain, d.Status, ago(d.LastCheck, now), next, d.Detail)
					}
					return tw.Flush()
				})
		},
	}
	remove := &cobra.Command{
		Use:   "remove DOMAIN",
		Short: "Remove a domain (its users stay)",
		Args:  exactArgs(1, "a domain from 'roster domain list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			if err := domainErr(dir.RemoveDomain(cmd.Context(), tenant, args[0])); err != nil {
				return err
			}
			if asJSON {
				open, err := dir.OpenTenants(cmd.Context())
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"tenant": tenant, "removed": args[0], "accepts_any_domain": slices.Contains(open, tenant)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed %s from tenant %q. Its users stay.\n", args[0], tenant)
			return warnOpenTenants(cmd, dir, tenant)
		},
	}
	for _, c := range []*cobra.Command{add, verify, remove} {
		c.Flags().StringVar(&tenant, "tenant", directory.DefaultTenant, "tenant the domain belongs to")
	}
	for _, c := range []*cobra.Command{add, verify, list, remove} {
		c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	}
	list.Flags().StringVar(&listTenant, "tenant", "", "only this tenant's domains")
	cmd.AddCommand(add, list, verify, remove)
	return cmd
}

// domainErr turns directory errors into messages that say what to do.
func domainErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, domainproof.ErrInvalidDomain), errors.Is(err, domainproof.ErrPublicSuffix):
		return usageError{err}
	}
	return err
}

// warnOpenTenants says loudly which tenants accept users of any domain.
func warnOpenTenants(cmd *cobra.Command, dir *directory.Service, only string) error {
	open, err := dir.OpenTenants(cmd.Context())
	if err != nil {
		return err
	}
	for _, t := range open {
		if only == "" || only == t {
			fmt.Fprintf(cmd.OutOrStdout(), "WARNING: tenant %q has no email domains: it accepts users of ANY domain. Add one with 'roster domain add DOMAIN --tenant %s'.\n", t, t)
		}
	}
	return nil
}

// tenantFlag is " --tenant T" for a tenant other than the default, for hints.
func tenantFlag(tenant string) string {
	if tenant == directory.DefaultTenant {
		return ""
	}
	return " --tenant " + tenant
}
