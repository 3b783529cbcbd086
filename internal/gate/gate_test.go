package gate

import (
	"github.com/credshield/credshield/internal/challenge"
	"github.com/credshield/credshield/internal/device"
	"github.com/credshield/credshield/internal/guard"
	"github.com/credshield/credshield/internal/password"
)

// Interface guards: the concrete parts cmd/credshield wires in satisfy the
// interfaces this package declares.
var (
	_ Guard      = (*guard.Guard)(nil)
	_ Devices    = (*device.Issuer)(nil)
	_ Challenges = (*challenge.Issuer)(nil)
	_ Pool       = (*password.Pool)(nil)
)
