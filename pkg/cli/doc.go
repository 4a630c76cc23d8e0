// Package cli wires slotshift's command line (urfave/cli/v2) to the stages:
// flags and their SLOTSHIFT_* environment variables, the inventory and
// secrets from the environment, reports written for every outcome, and the
// single mapping from errors to exit codes.
package cli
