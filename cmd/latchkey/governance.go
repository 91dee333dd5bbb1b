package main

import (
	"github.com/spf13/pflag"

	"github.com/latchkey/latchkey/server"
)

// governanceOptions are serve's flags for the governance features (rate limits, leak reports).
type governanceOptions struct{}

func (g *governanceOptions) flags(fl *pflag.FlagSet) {}

func (g *governanceOptions) apply(cfg *server.Config) error { return nil }
