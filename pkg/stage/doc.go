// Package stage implements slotshift's pipeline stages — validate,
// provision, join, rebalance, verify — each a function of (context, Env,
// input) returning a Result whose checks are data, and an error only when the
// stage could not finish.
package stage
