package verify_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/credshield/credshield/verify"
)

// Protecting an existing Go API: every request under /api/ must carry a
// credshield access token (Bearer, or DPoP with a proof).
func Example() {
	v, err := verify.New(context.Background(), verify.Config{
		Issuer:      "https://login.example.com",
		Audience:    "orders-api",
		ResourceURL: "https://orders.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s\n", c.Username)
	})
	http.Handle("/api/", v.Middleware(api))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}

// Refusing tokens of an account that changed since they were issued (a
// password reset, a disable or enable, a change of scopes): the service
// reads the account's current epoch — here from a function of its own over
// credshield's database or a cache of it — and compares the token's.
func ExampleConfig_checkAccount() {
	// accountEpoch stands in for the service's own lookup.
	accountEpoch := func(ctx context.Context, sub string) (epoch uint32, disabled bool, err error) {
		return 0, false, nil
	}
	v, err := verify.New(context.Background(), verify.Config{
		Issuer:      "https://login.example.com",
		Audience:    "orders-api",
		ResourceURL: "https://orders.example.com",
		CheckAccount: func(ctx context.Context, c *verify.Claims) error {
			epoch, disabled, err := accountEpoch(ctx, c.Subject)
			switch {
			case err != nil: // the accounts cannot be read: 503, not a bad token
				return &verify.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "try again later", Err: err}
			case disabled || c.AccountEpoch != epoch:
				return errors.New("account changed since the token was issued")
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/api/", v.Middleware(http.NotFoundHandler()))
}
