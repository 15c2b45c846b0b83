package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/store"
)

func newTenantExtensionCmd(rf *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "extension",
		Short: "Declare a tenant's custom extension attributes (what Entra mappings send as urn:…:extension:<Name>:2.0:User:<attribute>)",
		Long: `Declare the custom extension attributes a tenant accepts. An Entra administrator
can add attributes such as
  urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCode
to a provisioning mapping. The agent refuses an attribute nobody declared (400
invalidPath); once declared with a type, it is type-checked, stored, filterable
and listed in /Schemas. See docs/scim-limits.md.`,
	}
	var typ string
	var multi, asJSON bool
	add := &cobra.Command{
		Use:     "add TENANT ATTRIBUTE",
		Short:   "Declare a custom extension attribute with its type",
		Example: "  roster tenant extension add default urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCode --type string",
		Args:    exactArgs(2, "a tenant id and a fully qualified attribute, e.g. 'roster tenant extension add default urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCode'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			e, err := dir.DeclareExtension(cmd.Context(), args[0], args[1], typ, multi)
			if err != nil {
				return tenantErr(err, args[0])
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), e)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Tenant %q accepts %s:%s (%s%s). A running agent applies it within a few seconds.\n",
				args[0], e.Schema, e.Name, e.Type, map[bool]string{true: ", multi-valued"}[e.MultiValued])
			return nil
		},
	}
	add.Flags().StringVar(&typ, "type", "string", "the attribute's type: string, boolean, integer, decimal, dateTime or reference")
	add.Flags().BoolVar(&multi, "multi-valued", false, "the attribute holds an array of values")
	add.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var listJSON bool
	list := &cobra.Command{
		Use:   "list TENANT",
		Short: "List a tenant's declared extension attributes",
		Args:  exactArgs(1, "a tenant id from 'roster tenant list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			t, err := dir.Tenant(cmd.Context(), args[0])
			if err != nil {
				return tenantErr(err, args[0])
			}
			exts := t.Settings.Extensions
			if listJSON {
				if exts == nil {
					exts = []store.ExtensionAttribute{}
				}
				return printJSON(cmd.OutOrStdout(), exts)
			}
			if len(exts) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "Tenant %q has no extension attributes. Declare one with 'roster tenant extension add %s <urn>:<attribute> --type string'.\n", t.ID, t.ID)
				return nil
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "ATTRIBUTE\tTYPE\tMULTI-VALUED")
			for _, e := range exts {
				fmt.Fprintf(tw, "%s:%s\t%s\t%t\n", e.Schema, e.Name, e.Type, e.MultiValued)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	remove := &cobra.Command{
		Use:   "remove TENANT ATTRIBUTE",
		Short: "Remove a declaration (stored values stay; requests carrying the attribute are refused again)",
		Args:  exactArgs(2, "a tenant id and a declared attribute from 'roster tenant extension list'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, closeFn, err := rf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			if err := dir.RemoveExtension(cmd.Context(), args[0], args[1]); err != nil {
				return tenantErr(err, args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Tenant %q no longer accepts %s.\n", args[0], args[1])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

// tenantErr says which tenant is missing when err is store.ErrNotFound.
func tenantErr(err error, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no tenant %q: see 'roster tenant list'", id)
	}
	return err
}
