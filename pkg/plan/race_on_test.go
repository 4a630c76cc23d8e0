//go:build race

package plan

// raceEnabled lets the property test run fewer topologies under the race
// detector, which slows this CPU-bound code about tenfold.
const raceEnabled = true
