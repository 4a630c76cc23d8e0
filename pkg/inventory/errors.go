package inventory

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoInventory is returned by FromEnv when no inventory was given.
var ErrNoInventory = errors.New("no inventory: pass --inventory FILE, or set SLOTSHIFT_INVENTORY_FILE (a path) or SLOTSHIFT_INVENTORY (inline YAML or JSON)")

// Problem is one thing wrong with an inventory's text: malformed YAML, an
// unknown or duplicate key, a value of the wrong type, a missing field.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`  // 1-based; 0 when unknown
	Field   string `json:"field,omitempty"` // key path, e.g. servers[1].nodes[0].port
	Message string `json:"message"`
}

// String formats the problem as "file:line: field: message", leaving out
// the parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error is every problem Parse found in one inventory. Callers that annotate
// files use Problems; people read Error().
type Error struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
