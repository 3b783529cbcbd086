package verify_test

import (
	"context"
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
