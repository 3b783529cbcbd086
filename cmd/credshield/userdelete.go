package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/credshield/credshield/internal/store"
)

func newUserDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an account: its sessions, access tokens and device credentials stop working, and the row is removed",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return userDelete(cmd.Context(), e, args[0])
		},
	}
}

// userDelete removes an account and what the store keeps for it (refresh
// families, pending screening). Access tokens and device credentials die
// with the row: both are checked against the account at every use.
func userDelete(ctx context.Context, e *env, rawName string) error {
	name, err := accountName(rawName)
	if err != nil {
		return err
	}
	st, err := e.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.DeleteUser(ctx, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q", name)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "user %q deleted with its sessions\n", name)
	return nil
}
