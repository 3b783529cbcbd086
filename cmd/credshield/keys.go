package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/credshield/credshield/config"
	"github.com/credshield/credshield/token"
)

func newKeysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Inspect signing keys",
	}
	alg := config.Default().SigningAlg
	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys: kid (RFC 7638 thumbprint), algorithm, creation time, which one signs",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := token.Load(e.keysDir(), alg)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATUS")
			active := ks.Active()
			for _, k := range ks.Keys() {
				status := "published"
				if active != nil && k.ID == active.ID {
					status = "active"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Alg, k.Created.UTC().Format(time.RFC3339), status)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&alg, "signing-alg", alg, "the algorithm serve signs with; its newest key is the active one")
	cmd.AddCommand(list)
	return cmd
}
