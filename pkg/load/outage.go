package load

import "time"

// Write is one write as the client saw it: when it was sent, when its
// reply (or error) came back, and whether it was acknowledged.
type Write struct {
	Start, End time.Time
	Acked      bool
	Kind       Kind // the error's kind; "" when acknowledged
}

// OnWrite registers f to receive every write of the load phase as it
// completes, so that a caller can measure what the client saw (e.g. the
// longest time without an acknowledged write during a failover). Call it
// before Start. f is called from the client goroutines, possibly several
// at once, and must not block.
func (g *Generator) OnWrite(f func(Write)) { g.onWrite = f }
